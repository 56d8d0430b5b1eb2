"""Patrol legs and distances of many crews in one compiled loop (Numba).

The idle crews' patrol legs (:mod:`simulator.agencies.units`) are played here,
in one loop (:func:`play`) which also measures the crews' distances to a call,
on the table of the patrolling crews' positions and current legs that
:class:`simulator.agencies.legs.LegTable` keeps: a crew's row of floats (``X``
to ``SPEED``) and of integers (``CELL`` to ``ON_DUTY``), and the free crews' non-call
duties with them (drawn from ``duty_draws``, which Python fills). The steps and the
order of the floating-point operations are those of the Python loop
(``Unit._legs_one_by_one``), so positions, leg times and presence are the same
to the last bit:
a leg's length is Python's ``math.hypot`` (:func:`py_hypot`, its algorithm,
which is not the C library's) and a distance to an incident is ``abs(complex)``
(the C library's ``hypot``, as Numba's). Patrol targets are taken from the
strategies' buffers of draws (``draws``, one row per strategy, ``buffers``: the
next draw's index and whether the strategy has a single cell); when a buffer
runs out, or a crew's strategy or travel is not one the loop knows, the loop
stops and returns to Python, which draws or plays that crew's legs and calls it
again from where it stopped. Nothing here draws a random number. The loops add
their stays to the presence log's arrays (``PresenceLog``) as they go
(:func:`add_stay`), and the log's touched entries are taken by :func:`take_touched`.

This module imports nothing of secsim but :mod:`simulator.compiled`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from simulator.compiled import compiled

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
# The presence log's arrays (``PresenceLog.arrays``): hours by flat entry (agency x
# cell), whether an entry was added to since the touched ones were last taken, those
# entries in the order first added to, and how many of them there are.
Presence = tuple[FloatArray, NDArray[np.bool_], IntArray, IntArray]

# A crew's floats: where it is (X, Y: the end of its last completed leg, or where it
# stopped), its current leg (START, the target's centre LEG_X, LEG_Y, ARRIVE, END), how
# it patrols (DWELL hours, CIRCUITY), NEXT (when its row next changes: the end of its
# leg, the start of its next duty or the end of its duty, whichever comes first),
# its duties (DUTY_AT: when its next duty starts, infinite if none is planned;
# DUTY_GAP and DUTY_MEAN: the agency's mean free time before a duty and mean duty, in
# hours, DUTY_GAP negative if it has none), since when it has been in its state (SINCE,
# the start of its state interval for the records) and its patrol speed by hour (SPEED
# .. SPEED + 23). A crew on a duty (ON_DUTY) stands at its station: its "leg" is the
# duty, to its station from START = ARRIVE (the duty's start) until END.
X, Y, START, LEG_X, LEG_Y, ARRIVE, END, DWELL, CIRCUITY, NEXT = range(10)
DUTY_AT, DUTY_GAP, DUTY_MEAN, SINCE, SPEED = range(10, 15)
N_FLOATS = SPEED + 24
# A crew's integers: its cell, its leg's target cell, the flat presence index of its
# agency's first cell, its strategy's row of draws (-1: a strategy the loop does not
# know), whether it is available, whether the loop knows its travel (1) or not (0),
# its station's cell, whether it is on a duty the loop started.
CELL, LEG_CELL, PRESENCE_BASE, STRATEGY, AVAILABLE, COMPILED, STATION, ON_DUTY = range(8)
N_INTS = 8

# The loops' counters (``count``): a target held back, the next of the duty draws,
# duty records written.
HELD, DRAWN, DUTIES = range(3)
N_COUNTS = 3

MIN_LEG_H = 1.0 / 60.0  # a leg lasts at least a minute

# What the loops return: when done, a negative number, -1 - (RECORDS if duties were
# recorded) - (OTHERS if a crew was not available); else, with the
# position k of the crew in ``slots`` it stopped at, 4 * k + one of DRAWS,
# NEED_TARGET, PYTHON, FULL.
RECORDS = 1
OTHERS = 2
DRAWS = 0  # the duty draws ran out: Python draws more, then calls again (the target in HELD)
NEED_TARGET = 1  # the crew's next target must come from Python (draws, or its strategy)
PYTHON = 2  # the crew's legs are played in Python (a travel model the loop does not know)
FULL = 3  # the duty records are full: take them, call again (the target in HELD)


@compiled
def _two_product(a: float, b: float) -> tuple[float, float]:
    """``a * b`` and its rounding error, exactly (Dekker's product, Veltkamp's split)."""
    p = a * b
    c = 134217729.0 * a  # 2**27 + 1
    ah = c - (c - a)
    al = a - ah
    c = 134217729.0 * b
    bh = c - (c - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@compiled
def py_hypot(a: float, b: float) -> float:
    """Python's ``math.hypot(a, b)`` (CPython 3.12's vector_norm), to the last bit.

    Python computes its own (a lossless sum of squares and one correction step);
    the C library's ``hypot``, which Numba's ``math.hypot`` calls, may differ by
    one unit in the last place.
    """
    x = abs(a)
    y = abs(b)
    big = 0.0
    if x > big:
        big = x
    if y > big:
        big = y
    if math.isinf(big):
        return big
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if big == 0.0:
        return big
    _, e = math.frexp(big)
    tiny = 0.0
    if e < -1023:  # subnormal: scaled up first, and the result down, as CPython does
        tiny = 2.2250738585072014e-308  # DBL_MIN
        x /= tiny
        y /= tiny
        _, e = math.frexp(big / tiny)
    scale = math.ldexp(1.0, -e)
    csum = 1.0
    frac1 = 0.0
    frac2 = 0.0
    v = x * scale
    hi, lo = _two_product(v, v)
    s = csum + hi
    frac2 += (csum - s) + hi
    csum = s
    frac1 += lo
    v = y * scale
    hi, lo = _two_product(v, v)
    s = csum + hi
    frac2 += (csum - s) + hi
    csum = s
    frac1 += lo
    h = math.sqrt(csum - 1.0 + (frac1 + frac2))
    hi, lo = _two_product(-h, h)
    s = csum + hi
    frac2 += (csum - s) + hi
    csum = s
    frac1 += lo
    v = csum - 1.0 + (frac1 + frac2)
    h += v / (2.0 * h)
    if tiny > 0.0:
        return tiny * (h / scale)
    return h / scale


@compiled
def take_target(draws: IntArray, buffers: IntArray, row: int, current: int) -> int:
    """``WeightedPatrol.next_cell(current)`` on its buffer, or -1 if it would need a draw.

    The same pops as the Python method: the next draw unless it is the current
    cell, else up to four pops in all until one differs (or the strategy has a
    single cell). Returns -1, having taken nothing, when the buffer would run out
    first: Python then draws and pops as it always did.
    """
    n = draws.shape[1]
    i = buffers[row, 0]
    if i < n and draws[row, i] != current:
        buffers[row, 0] = i + 1
        return int(draws[row, i])
    cell = current
    for _ in range(4):
        if i >= n:
            return -1
        cell = draws[row, i]
        i += 1
        if cell != current or buffers[row, 1] == 1:
            buffers[row, 0] = i
            return int(cell)
    buffers[row, 0] = i
    return int(cell)


@compiled
def _play_one(
    floats: FloatArray,
    ints: IntArray,
    s: int,
    until: float,
    forced: int,
    draws: IntArray,
    buffers: IntArray,
    xs: FloatArray,
    ys: FloatArray,
    presence: Presence,
    count: IntArray,
    duty_draws: FloatArray,
    out_duties: FloatArray,
) -> int:
    """Play crew ``s``'s legs and duties ended by ``until``; -1, or why it stopped.

    Legs as ``Unit._legs_one_by_one`` plays them. A duty planned (``DUTY_AT``)
    before the current leg ends takes the crew off patrol then: the dwell at the
    leg's cell so far is recorded, and the crew stays at its station for its mean
    duty times the next standard exponential draw of ``duty_draws``; at the end of
    the duty it patrols from its station again, and its next duty is planned its
    mean free time times the next draw later (the life cycle's rule 6, as the
    control room's events played it before). Each duty done is written to
    ``out_duties`` (row, since, start, end: the crew was available from ``since``, the
    row's SINCE, to the duty's start), and the duty's end becomes its SINCE; each stay
    is added to the ``presence`` log.

    ``forced`` (if not negative) is the target of its next leg, which Python drew.
    The crew's row holds a whole unit's state after each step, so a stop leaves it
    as a call with an earlier ``until`` would, and a new call goes on from there.
    """
    cell = ints[s, LEG_CELL]
    x = floats[s, LEG_X]
    y = floats[s, LEG_Y]
    arrive = floats[s, ARRIVE]
    end = floats[s, END]
    duty_at = floats[s, DUTY_AT]
    dwell = floats[s, DWELL]
    circuity = floats[s, CIRCUITY]
    row = ints[s, STRATEGY]
    base = ints[s, PRESENCE_BASE]
    hours, seen, touched, touched_count = presence
    while True:
        on_duty = ints[s, ON_DUTY] == 1
        if not on_duty and duty_at < end and duty_at <= until:
            # A duty starts before the leg ends: off patrol, to the station.
            d = count[DRAWN]
            if d == duty_draws.size:
                count[HELD] = forced
                return DRAWS
            if duty_at > arrive:  # the dwell at the leg's cell up to now
                add_stay(hours, seen, touched, touched_count, base + cell, duty_at - arrive)
            count[DRAWN] = d + 1
            cell = ints[s, STATION]
            x = xs[cell]
            y = ys[cell]
            arrive = duty_at
            end = duty_at + floats[s, DUTY_MEAN] * duty_draws[d]
            ints[s, ON_DUTY] = 1
            ints[s, CELL] = cell
            floats[s, X] = x
            floats[s, Y] = y
            floats[s, START] = arrive
            ints[s, LEG_CELL] = cell
            floats[s, LEG_X] = x
            floats[s, LEG_Y] = y
            floats[s, ARRIVE] = arrive
            floats[s, END] = end
            floats[s, NEXT] = end
            continue
        if end > until:
            return -1
        gap = floats[s, DUTY_GAP]
        m = count[DUTIES]
        if on_duty:  # nothing of the duty's end is done before this is sure to go on
            if gap >= 0.0 and count[DRAWN] == duty_draws.size:
                count[HELD] = forced
                return DRAWS
            if m == out_duties.shape[0]:
                count[HELD] = forced
                return FULL
        if forced >= 0:
            target = forced
            forced = -1
        elif row >= 0:
            target = take_target(draws, buffers, row, cell)
            if target < 0:
                return NEED_TARGET
        else:
            return NEED_TARGET
        if on_duty:  # the duty is over: patrol from the station, the next duty planned
            out_duties[m, 0] = s
            out_duties[m, 1] = floats[s, SINCE]
            out_duties[m, 2] = arrive
            out_duties[m, 3] = end
            floats[s, SINCE] = end
            count[DUTIES] = m + 1
            ints[s, ON_DUTY] = 0
            duty_at = math.inf
            if gap >= 0.0:
                d = count[DRAWN]
                duty_at = end + gap * duty_draws[d]
                count[DRAWN] = d + 1
            floats[s, DUTY_AT] = duty_at
        elif end > arrive:  # PresenceLog.add: the dwell at the cell just left
            add_stay(hours, seen, touched, touched_count, base + cell, end - arrive)
        tx = xs[target]
        ty = ys[target]
        start = end
        speed = floats[s, SPEED + int(start) % 24]
        distance = py_hypot(tx - x, ty - y)
        drive = math.inf if speed <= 0 else circuity * distance / speed
        arrive = start + drive
        end = arrive + dwell
        least = start + MIN_LEG_H
        if least > end:
            end = least
        # The leg just completed: the crew stands at its cell.
        ints[s, CELL] = cell
        floats[s, X] = x
        floats[s, Y] = y
        floats[s, START] = start
        ints[s, LEG_CELL] = target
        floats[s, LEG_X] = tx
        floats[s, LEG_Y] = ty
        floats[s, ARRIVE] = arrive
        floats[s, END] = end
        floats[s, NEXT] = duty_at if duty_at < end else end
        cell = target
        x = tx
        y = ty


@compiled
def play(
    floats: FloatArray,
    ints: IntArray,
    slots: IntArray,
    k: int,
    until: float,
    x0: float,
    y0: float,
    forced: int,
    draws: IntArray,
    buffers: IntArray,
    xs: FloatArray,
    ys: FloatArray,
    presence: Presence,
    count: IntArray,
    duty_draws: FloatArray,
    out_duties: FloatArray,
    found: FloatArray,
) -> int:
    """Play the legs and duties ended by ``until`` of the available crews ``slots[k:]``, in order.

    With a non-empty ``found``, each crew is then measured too: how far it is at
    ``until`` from (x0, y0), interpolated along its current leg (a crew on a duty
    is at its station), into ``found[j]`` for ``slots[j]`` (``Unit.position``,
    then ``units.distances``). A crew that is not available is left to Python
    (its entry in ``found`` is -1, and OTHERS in the result tells it). One loop
    for both uses: one kernel to compile.

    Returns:
        When done, -1 - RECORDS (if duties were recorded) - OTHERS (if
        measuring and a crew was not available); else ``4 * j + why`` for the
        crew ``slots[j]`` the loop stopped at (``forced``, if not negative, is
        that crew's next target when called again from ``k = j``).
    """
    measure = found.size > 0
    others = 0
    for j in range(k, slots.size):
        s = slots[j]
        if ints[s, AVAILABLE] == 0:
            if measure:
                found[j] = -1.0
                others = OTHERS
            continue
        if floats[s, NEXT] <= until:
            if ints[s, COMPILED] == 0:
                return 4 * j + PYTHON
            why = _play_one(
                floats,
                ints,
                s,
                until,
                forced,
                draws,
                buffers,
                xs,
                ys,
                presence,
                count,
                duty_draws,
                out_duties,
            )
            if why >= 0:
                return 4 * j + why
            forced = -1
        if measure:
            arrive = floats[s, ARRIVE]
            if until < arrive:
                start = floats[s, START]
                share = (until - start) / (arrive - start)
                x = floats[s, X]
                y = floats[s, Y]
                x += (floats[s, LEG_X] - x) * share
                y += (floats[s, LEG_Y] - y) * share
            else:
                x = floats[s, LEG_X]
                y = floats[s, LEG_Y]
            # abs(complex) is the C library's hypot, in Numba as in Python.
            found[j] = abs(complex(x - x0, y - y0))
    return -1 - (RECORDS if count[DUTIES] > 0 else 0) - others


@compiled
def add_stay(
    hours: FloatArray,
    seen: NDArray[np.bool_],
    touched: IntArray,
    count: IntArray,
    i: int,
    stay: float,
) -> None:
    """Add ``stay`` hours at the flat entry ``i`` of ``hours``: ``PresenceLog.add``.

    The same sums, to the last bit: an entry not yet ``seen`` since the log's
    touched entries were last taken is marked and appended to ``touched``, whose
    first ``count[0]`` are in use (each entry once: there is room for all).
    """
    hours[i] += stay
    if not seen[i]:
        seen[i] = True
        k = count[0]
        touched[k] = i
        count[0] = k + 1


@compiled
def take_touched(seen: NDArray[np.bool_], touched: IntArray, count: IntArray) -> IntArray:
    """The entries ``touched[:count[0]]`` sorted, their marks in ``seen`` cleared, none left.

    Sorted by a heapsort written out here: Numba's ``np.sort`` takes a second more
    to compile than this whole kernel, for a few hundred distinct entries an hour
    (any sort puts distinct numbers in the same order).
    """
    n = count[0]
    taken = touched[:n].copy()
    # Max-heap of taken[:end], built by sifting down from the last parent.
    for start in range(n // 2 - 1, -1, -1):
        _sift_down(taken, start, n)
    for end in range(n - 1, 0, -1):
        top = taken[0]
        taken[0] = taken[end]
        taken[end] = top
        _sift_down(taken, 0, end)
    for i in taken:
        seen[i] = False
    count[0] = 0
    return taken


@compiled
def _sift_down(heap: IntArray, root: int, end: int) -> None:
    """Move ``heap[root]`` down until ``heap[:end]`` below it is a max-heap again."""
    value = heap[root]
    child = 2 * root + 1
    while child < end:
        if child + 1 < end and heap[child + 1] > heap[child]:
            child += 1
        if heap[child] <= value:
            break
        heap[root] = heap[child]
        root = child
        child = 2 * root + 1
    heap[root] = value
