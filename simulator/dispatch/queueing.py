"""Queueing theory the simulator is validated against (MODEL.md section 5).

With the ``point`` territory, one agency, c units always on duty, Poisson calls
and exponential on-scene times, dispatch is an M/M/c queue:

* Erlang C gives the probability of waiting and the mean wait;
* with priority classes served non-pre-emptively, first come first served
  within a class, the mean wait of class k is Cobham's formula (Cobham 1954,
  Operations Research 2(1); multi-server form as in Kleinrock 1976, vol. 2):
  ``W_k = [C(c, a) / (c mu)] / ((1 - s_{k-1}) (1 - s_k))`` with
  ``s_k = sum_{i <= k} lambda_i / (c mu)``.

Rates are per hour; waits are returned in hours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arriving call waits (Erlang C), for c servers and load a = lambda/mu.

    Computed through the Erlang B recursion, which is numerically stable for
    large c.
    """
    if servers <= 0:
        raise ValueError("servers must be positive")
    if offered_load < 0:
        raise ValueError("offered load must be non-negative")
    if offered_load >= servers:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    rho = offered_load / servers
    return b / (1.0 - rho + rho * b)


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean wait in queue Wq of an M/M/c queue (hours); ``inf`` when unstable."""
    capacity = servers * service_rate
    if arrival_rate >= capacity:
        return math.inf
    return erlang_c(servers, arrival_rate / service_rate) / (capacity - arrival_rate)


def priority_mean_waits(
    arrival_rates: Sequence[float], service_rate: float, servers: int
) -> list[float]:
    """Mean wait of each priority class (class 1 first) under non-pre-emptive priority.

    All classes share the same exponential service time.
    """
    total = math.fsum(arrival_rates)
    capacity = servers * service_rate
    if total >= capacity:
        return [math.inf] * len(arrival_rates)
    base = erlang_c(servers, total / service_rate) / capacity
    waits = []
    sigma_prev = 0.0
    for rate in arrival_rates:
        sigma = sigma_prev + rate / capacity
        waits.append(base / ((1.0 - sigma_prev) * (1.0 - sigma)))
        sigma_prev = sigma
    return waits
