"""Compiled loops of the crime engine's hour: who meets each opportunity, and whether they act.

An hour brings a few dozen opportunities at most. On arrays that small, NumPy
spends its time calling, not computing: the choice of an offender and the
decision to act took some forty array operations an hour, most of the crime
engine's time. Here they are plain loops, compiled by Numba
(:func:`simulator.compiled.compiled`: only the first run on a machine compiles
them).

Each function does the arithmetic of the NumPy code it replaced in the same
order, with four exceptions that change intermediate values by rounding only
(a few parts in 1e15): ``math.exp`` and ``math.expm1`` (the C library's) where
NumPy has its own on some processors (AVX-512), the sum over the square around
a target taken row by row where NumPy summed in pairs, and the patrol field
summed agency by agency where NumPy's matrix product called BLAS. A decision
changes only if a uniform falls between two doubles one unit apart; the records
of the shipped scenarios are the same to the bit. Integer results (which
offender, which cell) come from the same comparisons of the same sums.

Arrays are passed as they are (no copy): the caller gives contiguous arrays of
the dtypes annotated, so that one compiled version serves every run.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from simulator.compiled import compiled

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@compiled
def pick_offenders(
    types: IntArray,
    cells: IntArray,
    u_cell: FloatArray,
    u_who: FloatArray,
    box: IntArray,
    weight_flat: FloatArray,
    weight_cum: FloatArray,
    cell_start: IntArray,
    below: FloatArray,
    cum_flat: FloatArray,
    order: IntArray,
    size: int,
) -> IntArray:
    """The offender who meets each opportunity (:meth:`OffenderPool.pick`), by slot.

    For opportunity ``i`` of type ``t`` in cell ``c``: the home cell within reach
    (``box[c]``) where the running sum of the type's propensity first reaches
    ``u_cell[i]`` times its total (anywhere, from ``weight_cum[t]``, if nobody
    lives within reach); then, among that cell's offenders (``order`` from
    ``cell_start``), the one where the pool's running sum of the type first
    exceeds the sum below them plus ``u_who[i]`` times their cell's weight.

    Returns:
        The slot of each, or -1 where nobody has a propensity for the type there.
    """
    m = types.size
    n = box.shape[0]
    width = box.shape[1]
    out = np.full(m, -1, dtype=np.int64)
    for i in range(m):
        t = types[i]
        row = box[cells[i]]
        base = t * (n + 1)
        # Running sum over the box (as np.cumsum: one addition after the other).
        total = 0.0
        for b in range(width):
            total += weight_flat[base + row[b]]
        x = u_cell[i] * total
        col = 0
        running = 0.0
        for b in range(width):
            running += weight_flat[base + row[b]]
            if not running < x:
                break
            col += 1
        home = row[min(col, width - 1)]
        if total <= 0.0:  # nobody within reach: anyone may come
            wc = weight_cum[t]
            home = min(np.searchsorted(wc, u_cell[i] * wc[n - 1], side="left"), n - 1)
        start = cell_start[home]
        stop = cell_start[home + 1]
        weight = weight_flat[base + home]
        first = t * size
        j = np.searchsorted(cum_flat, below[first + start] + u_who[i] * weight, side="right")
        j = min(max(j - first, start), max(stop - 1, start))
        if stop > start and weight > 0.0:
            out[i] = order[j]
    return out


# What guardianship reads (:func:`_guard_at`), as one tuple: this hour's patrol
# presence by cell, the remembered presence (area), this hour's crowd factors, the
# standing guardians, the area weight, the grid's columns and rows, the radius.
Guardians = tuple[FloatArray, FloatArray, NDArray[np.float32], FloatArray, float, int, int, int]


@compiled
def _guard_at(cell: int, guardians: Guardians) -> float:
    """Guardianship an offender perceives at ``cell`` (see :meth:`CrimeEngine._guardianship`)."""
    patrol, area, crowd, static, area_weight, nx, ny, radius = guardians
    guard: float
    if area_weight <= 0.0:
        guard = static[cell] + crowd[cell] * patrol[cell]
        return guard
    j, i = divmod(cell, nx)
    j0, j1 = max(j - radius, 0), min(j + radius + 1, ny)
    i0, i1 = max(i - radius, 0), min(i + radius + 1, nx)
    around = 0.0
    for jj in range(j0, j1):
        for ii in range(jj * nx + i0, jj * nx + i1):
            around += area[ii]
    mean = around / ((j1 - j0) * (i1 - i0))
    guard = static[cell] + crowd[cell] * (patrol[cell] + area_weight * mean)
    return guard


@compiled
def guardianship(cells: IntArray, guardians: Guardians) -> FloatArray:
    """:func:`_guard_at` of each of ``cells``."""
    out = np.empty(cells.size)
    for k in range(cells.size):
        out[k] = _guard_at(cells[k], guardians)
    return out


@compiled
def decide(
    rows: IntArray,
    cells: IntArray,
    u: FloatArray,
    columns: IntArray,
    slots: IntArray,
    now: float,
    held_until: FloatArray,
    own: FloatArray,
    own_t: FloatArray,
    home: IntArray,
    memory_h: float,
    own_arrest: float,
    others_arrest: float,
    arrests_near: FloatArray,
    deterrence: FloatArray,
    share: float,
    inside: IntArray,
    next_door: IntArray,
    guardians: Guardians,
) -> tuple[FloatArray, NDArray[np.bool_], IntArray, IntArray, FloatArray]:
    """Whether each opportunity becomes an offence, and where (:meth:`CrimeEngine._commit`).

    The offender in ``slots[c]`` (-1: none) acts if free and ``u[c, commit]`` falls
    below exp(-deterrence x (guardianship + personal risk)); a free one deterred,
    in a cell with neighbours, looks next door with chance ``share`` (``u[c, move]``),
    at neighbour ``floor(u[c, next_door] x k)`` of its ``k``, where the same rule
    decides with ``u[c, commit_next_door]``. ``columns`` gives those four columns of
    ``u``, in that order.

    Returns:
        The chance where each arose (0 for no offender or one held), whether each
        is committed, where (its cell, or the neighbour it moved to), the
        opportunities that could look next door (free, with neighbours, ``share``
        above 0), and for those the chance at each entry of their ``next_door`` row.
    """
    m = rows.size
    c_commit, c_move, c_next, c_commit_next = columns[0], columns[1], columns[2], columns[3]
    chance = np.zeros(m)
    personal = np.zeros(m)
    free = np.zeros(m, dtype=np.bool_)
    commit = np.zeros(m, dtype=np.bool_)
    where = cells.copy()
    n_looks = 0
    for c in range(m):
        slot = slots[c]
        s = slot if slot >= 0 else 0
        free[c] = slot >= 0 and held_until[s] <= now
        risk = own[s] * math.exp(-(now - own_t[s]) / memory_h)
        personal[c] = own_arrest * risk + others_arrest * arrests_near[home[s]]
        cell = cells[c]
        if free[c]:
            guard = _guard_at(cell, guardians)
            chance[c] = math.exp(-deterrence[rows[c]] * (guard + personal[c]))
            if share > 0.0 and inside[cell] > 0:
                n_looks += 1
        commit[c] = u[c, c_commit] < chance[c]
    looks = np.empty(n_looks, dtype=np.int64)
    width = next_door.shape[1]
    chance_next = np.empty((n_looks, width))
    row = 0
    for c in range(m):
        cell = cells[c]
        if not (free[c] and share > 0.0 and inside[cell] > 0):
            continue
        looks[row] = c
        delta = deterrence[rows[c]]
        for k in range(width):
            guard = _guard_at(next_door[cell, k], guardians)
            chance_next[row, k] = math.exp(-delta * (guard + personal[c]))
        if not commit[c] and u[c, c_move] < share:
            k_in = inside[cell]
            pick = min(int(u[c, c_next] * k_in), k_in - 1)
            if u[c, c_commit_next] < chance_next[row, pick]:
                where[c] = next_door[cell, pick]
                commit[c] = True
        row += 1
    return chance, commit, where, looks, chance_next


@compiled
def observe_presence(
    hours: FloatArray,
    touched: IntArray,
    touched_last: IntArray,
    hour: FloatArray,
    last: FloatArray,
    effective: FloatArray,
    day: FloatArray,
    seen: NDArray[np.bool_],
    decay: float,
    saturation_h: float,
    saturation_scale: float,
) -> None:
    """Take an hour of the presence log (:meth:`CrimeEngine.observe_presence`), in place.

    Arrays are agency x cell, flat (``hour``: what the hour added; ``last``: the
    log's totals when last seen; ``effective``: presence with residual
    deterrence), except ``day`` (this day's presence by cell) and ``seen`` (a
    scratch mask of cells, all False, left so). Only the entries ``touched``
    since the last hour changed; ``touched_last`` are those set in ``hour`` then.
    Residual deterrence fades everywhere by ``decay``, and an hour's presence
    adds with diminishing returns (:meth:`CrimeEngine._saturated`).
    """
    n = day.size
    agencies = hour.size // n
    for t in touched_last:
        hour[t] = 0.0
    for t in touched:
        now = hours[t]
        hour[t] = now - last[t]
        last[t] = now
    for k in range(effective.size):
        effective[k] *= decay
    for t in touched:
        added = hour[t]
        if saturation_h > 0.0:
            added = saturation_scale * -math.expm1(-added / saturation_h)
        effective[t] += added
    for t in touched:
        cell = t % n
        if seen[cell]:
            continue
        seen[cell] = True
        total = hour[cell]
        for a in range(1, agencies):
            total += hour[a * n + cell]
        day[cell] += total
    for t in touched:
        seen[t % n] = False


@compiled
def patrol_field(
    strength: FloatArray, effective: FloatArray, area: FloatArray, keep: float, patrol: FloatArray
) -> None:
    """Patrol presence by cell, and what offenders remember of it, in place.

    ``patrol`` becomes the presence of every agency weighted by its strength
    (``strength @ effective``); ``area`` fades by ``keep`` and takes the rest
    from it (``area_memory_h``).
    """
    agencies, n = effective.shape
    patrol[:] = 0.0
    for a in range(agencies):  # row by row, in memory order; each cell's sum in agency order
        weight = strength[a]
        row = effective[a]
        for c in range(n):
            patrol[c] += weight * row[c]
    for c in range(n):
        area[c] = area[c] * keep + (1.0 - keep) * patrol[c]
