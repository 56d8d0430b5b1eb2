"""Compiled loops of the crime engine's hour: who meets each opportunity, and whether they act.

An hour brings a few dozen opportunities at most. On arrays that small, NumPy
spends its time calling, not computing: the choice of an offender and the
decision to act took some forty array operations an hour, most of the crime
engine's time. Here they are plain loops, compiled by Numba
(:func:`simulator.compiled.compiled`: only the first run on a machine compiles
them). So are the numbers of the hour's offences (who the victim is, whether
the offence becomes known, the victim's trust and fear in float32), which took
some fifteen microseconds an offence in Python. :func:`commit_hour` takes an
hour's opportunities to its offences in one call.

Each function does the arithmetic of the NumPy code it replaced in the same
order, with five exceptions that change intermediate values by rounding only
(a few parts in 1e15): ``math.exp`` and ``math.expm1`` (the C library's) where
NumPy has its own on some processors (AVX-512), in the chances to act and of
being seen; the sum over the square around a target taken row by row where
NumPy summed in pairs; and the patrol field summed agency by agency where
NumPy's matrix product called BLAS. A decision changes only if a uniform falls
between two doubles one unit apart; the records of the shipped scenarios are
the same to the bit. Integer results (which offender, which cell) come from the
same comparisons of the same sums, and sums over agencies, and those of the
hour's rates, are NumPy's own (:func:`pairwise_sum`). :func:`offences` makes no such exception: the
exponential variates it reads are NumPy's, and its results are those of the
Python code it replaced, to the bit.

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


# What the choice of an offender reads of the pool (:meth:`OffenderPool.pick`): the
# square within reach of each cell, the propensity by type and cell laid end to end,
# its running sums over the cells of each type, where each cell's offenders start in
# ``order``, the running sums below them and over the pool by type, and the pool's size.
Picking = tuple[IntArray, FloatArray, FloatArray, IntArray, FloatArray, FloatArray, IntArray, int]


@compiled
def _first_at_least(values: FloatArray, x: float) -> int:
    """``np.searchsorted(values, x, side="left")`` of ascending ``values``."""
    lo, hi = 0, values.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@compiled
def _first_above(values: FloatArray, x: float) -> int:
    """``np.searchsorted(values, x, side="right")`` of ascending ``values``."""
    lo, hi = 0, values.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if x < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@compiled
def _pick(t: int, cell: int, u_cell: float, u_who: float, picking: Picking) -> int:
    """The slot of the offender who meets an opportunity of type ``t`` in ``cell``, or -1."""
    box, weight_flat, weight_cum, cell_start, below, cum_flat, order, size = picking
    n = box.shape[0]
    width = box.shape[1]
    row = box[cell]
    base = t * (n + 1)
    # Running sum over the box (as np.cumsum: one addition after the other).
    total = 0.0
    for b in range(width):
        total += weight_flat[base + row[b]]
    x = u_cell * total
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
        home = min(_first_at_least(wc, u_cell * wc[n - 1]), n - 1)
    start = cell_start[home]
    stop = cell_start[home + 1]
    weight = weight_flat[base + home]
    first = t * size
    j = _first_above(cum_flat, below[first + start] + u_who * weight)
    j = min(max(j - first, start), max(stop - 1, start))
    if stop > start and weight > 0.0:
        slot: int = order[j]
        return slot
    return -1


@compiled
def pick_offenders(
    types: IntArray, cells: IntArray, u_cell: FloatArray, u_who: FloatArray, picking: Picking
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
    out = np.empty(types.size, dtype=np.int64)
    for i in range(types.size):
        out[i] = _pick(types[i], cells[i], u_cell[i], u_who[i], picking)
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
    # (np.empty and loops: NumPy's zeros, ones and copy are slow to compile.)
    chance = np.empty(m)
    personal = np.empty(m)
    free = np.empty(m, dtype=np.bool_)
    commit = np.empty(m, dtype=np.bool_)
    where = np.empty(m, dtype=np.int64)
    n_looks = 0
    for c in range(m):
        slot = slots[c]
        s = slot if slot >= 0 else 0
        free[c] = slot >= 0 and held_until[s] <= now
        risk = own[s] * math.exp(-(now - own_t[s]) / memory_h)
        personal[c] = own_arrest * risk + others_arrest * arrests_near[home[s]]
        cell = cells[c]
        where[c] = cell
        chance[c] = 0.0
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
    adds with diminishing returns (:meth:`CrimeEngine.observe_presence`).
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


# Columns of the table of offence types :func:`offences` reads (one row a type).
VICTIM, REPORT, RESPOND, DELAY, SCENE, FOLLOW, FOLLOW_PROB, ARREST, STAY, LATER, LATER_DELAY = (
    range(11)
)
# Their victims (column VICTIM): none, a household of the cell, a person.
NO_VICTIM, HOUSEHOLD, PERSON = 0.0, 1.0, 2.0
# How each offence became known (first column of the integers :func:`offences` returns).
DETECTED, REPORTED, DARK = 0, 1, 2

# The columns of what :func:`offences` returns for each offence: integers and doubles.
OFFENCE_INTS = 5
OFFENCE_FLOATS = 8


@compiled
def offences(
    kinds: IntArray,
    cells: IntArray,
    when: FloatArray,
    slots: IntArray,
    u: FloatArray,
    columns: IntArray,
    lengths: FloatArray,
    p_detect: FloatArray,
    table: FloatArray,
    first: IntArray,
    trust: NDArray[np.float32],
    propensity: NDArray[np.float32],
    watch: NDArray[np.bool_],
    fear: NDArray[np.float32],
    victimisations: NDArray[np.int16],
    watch_bonus: float,
    trust_kept: float,
    fear_gain: float,
    victims_day: FloatArray,
    x: FloatArray,
    y: FloatArray,
    cell_m: float,
    offender_count: IntArray,
    generation: IntArray,
) -> tuple[IntArray, FloatArray, int]:
    """The hour's offences, in time order: their victims and how they became known.

    What the crime engine's Python once did with numbers, offence after offence, with
    its arithmetic in its order: offence ``i`` of type ``kinds[i]`` (its row of
    ``table``, columns :data:`VICTIM` to :data:`LATER_DELAY`) in ``cells[i]`` at
    ``when[i]``, by the offender in ``slots[i]``, reads its uniforms ``u[i]`` (the
    columns local, victim, detect, report, respond, follow, arrest, jitter_x and
    jitter_y, given in that order by ``columns``), its exponential variates
    ``lengths[i]`` (reporting delay, time on scene, stay) and its chance of being
    seen ``p_detect[i]``. The victim is a resident of the cell (``first``), a
    household's always, a person's with chance 1/2, or anyone; its chance of
    reporting rises with its trust and propensity (float32, read as doubles) and
    the watch bonus. Victimisation moves the victim's trust and fear in float32,
    as NumPy computes them (each double cast to float32 first), counts them
    (``victimisations``, ``victims_day``) and the offender's offences
    (``offender_count``); a later offence of the hour reads the trust so changed.

    Returns:
        By offence, the integers (how it became known: :data:`DETECTED`,
        :data:`REPORTED` or :data:`DARK`; whether a unit is needed; whether the
        offender is arrested if found on scene; the victim, -1 for none; the
        offender's identifier), the doubles (reported at, x and y, time on scene,
        follow-up, when the offender leaves; the chance of a clearance by
        investigation is the last times the exponential of the one before: it
        falls with the reporting delay), and how many residents were victimised
        for the first time.
    """
    m = kinds.size
    c_local, c_victim, c_detect, c_report = columns[0], columns[1], columns[2], columns[3]
    c_respond, c_follow, c_arrest = columns[4], columns[5], columns[6]
    c_x, c_y = columns[7], columns[8]
    size = trust.size
    pool = offender_count.size
    kept = np.float32(trust_kept)
    gain = np.float32(fear_gain)
    one = np.float32(1.0)
    ints = np.empty((m, OFFENCE_INTS), dtype=np.int64)
    floats = np.empty((m, OFFENCE_FLOATS))
    first_time = 0
    for i in range(m):
        k = kinds[i]
        cell = cells[i]
        t = when[i]
        start, stop = first[cell], first[cell + 1]
        kind = table[k, VICTIM]
        victim = -1
        if kind != NO_VICTIM and size > 0:
            if stop > start and (kind == HOUSEHOLD or u[i, c_local] < 0.5):
                victim = start + int(u[i, c_victim] * (stop - start)) % (stop - start)
            else:
                victim = int(u[i, c_victim] * size) % size
        reported_at = t
        if u[i, c_detect] < p_detect[i]:
            known = DETECTED
            needs_unit = True
        else:
            p_report = table[k, REPORT]
            if victim >= 0:
                p = p_report * (0.5 + float(trust[victim])) * float(propensity[victim])
                if watch[victim]:
                    p += watch_bonus
                p_report = min(1.0, max(0.0, p))
            if u[i, c_report] < p_report:
                known = REPORTED
                reported_at = t + lengths[i, 0] * table[k, DELAY] / 60.0
                needs_unit = u[i, c_respond] < table[k, RESPOND]
            else:
                known = DARK
                needs_unit = False
        if victim >= 0:
            if victimisations[victim] == 0:
                first_time += 1
            victimisations[victim] += 1
            trust[victim] = trust[victim] * kept
            f = fear[victim]
            fear[victim] = f + gain * (one - f)
            victims_day[cell] += 1.0
        slot = slots[i]
        offender_count[slot] += 1
        ints[i, 0] = known
        ints[i, 1] = needs_unit
        ints[i, 2] = u[i, c_arrest] < table[k, ARREST]
        ints[i, 3] = victim
        ints[i, 4] = slot + pool * generation[slot]
        floats[i, 0] = reported_at
        floats[i, 1] = x[cell] + (u[i, c_x] - 0.5) * cell_m
        floats[i, 2] = y[cell] + (u[i, c_y] - 0.5) * cell_m
        floats[i, 3] = table[k, SCENE] / 60.0 * lengths[i, 1]
        floats[i, 4] = table[k, FOLLOW] / 60.0 if u[i, c_follow] < table[k, FOLLOW_PROB] else 0.0
        floats[i, 5] = t + table[k, STAY] / 60.0 * lengths[i, 2]
        floats[i, 6] = -(reported_at - t) / table[k, LATER_DELAY]
        floats[i, 7] = table[k, LATER]
    return ints, floats, first_time


@compiled
def _block_sum(values: FloatArray, start: int, n: int) -> float:
    """NumPy's sum of up to 128 numbers from ``start`` (see :func:`pairwise_sum`).

    The indices are unsigned: an index that may be negative would make the compiler
    look for Python's negative indexing at each read (slower to run and to compile).
    """
    first = np.uint64(start)
    if n < 8:
        res = 0.0
        for i in range(np.uint64(n)):
            res += values[first + i]
        return res
    one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
    four, five, six, seven = np.uint64(4), np.uint64(5), np.uint64(6), np.uint64(7)
    r0, r1, r2, r3 = values[first], values[first + one], values[first + two], values[first + three]
    r4, r5 = values[first + four], values[first + five]
    r6, r7 = values[first + six], values[first + seven]
    at = first + np.uint64(8)
    end = first + np.uint64(n - n % 8)
    while at < end:
        r0 += values[at]
        r1 += values[at + one]
        r2 += values[at + two]
        r3 += values[at + three]
        r4 += values[at + four]
        r5 += values[at + five]
        r6 += values[at + six]
        r7 += values[at + seven]
        at += np.uint64(8)
    total: float = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    last = first + np.uint64(n)
    while at < last:
        total += values[at]
        at += one
    return total


@compiled
def pairwise_sum(values: FloatArray, n: int) -> float:
    """The sum of the first ``n`` of ``values``: NumPy's (``values[:n].sum()``), to the bit.

    NumPy's pairwise summation of a contiguous array of doubles: under 8 numbers, one
    after the other from 0; up to 128, eight running sums added in pairs, then the
    rest (:func:`_block_sum`); beyond, the first half (rounded down to a multiple of
    8) and the rest summed so, then added. The order of the additions is the
    algorithm's, not the processor's: the same on every machine. NumPy's recursion
    is walked with a stack of halves here (a compiled function that calls itself
    crashes when loaded from Numba's cache). NumPy adds the sum to its identity, 0:
    so does this (a sum of negative zeros is 0). The recorder's
    :func:`simulator.records.kernels.district_sums` sums its runs the same way, with a
    copy of its own (a kernel calls only kernels of its own file, see there).
    """
    if n <= 128:
        return 0.0 + _block_sum(values, 0, n)
    # The halves being summed, outermost first: where each starts, its count, how far
    # it got (0: neither half summed, 1: the first, 2: both) and its first half's sum.
    starts = np.empty(64, dtype=np.int64)  # each half at most half as long: 64 levels
    counts = np.empty(64, dtype=np.int64)
    stages = np.empty(64, dtype=np.int64)
    firsts = np.empty(64)
    starts[0], counts[0], stages[0] = 0, n, 0
    top = 0
    done = 0.0  # the sum of the last part finished
    while top >= 0:
        count = counts[top]
        if count <= 128:
            done = _block_sum(values, starts[top], count)
            top -= 1
            continue
        half = count // 2
        half -= half % 8
        stage = stages[top]
        if stage == 2:
            done = firsts[top] + done
            top -= 1
            continue
        if stage == 1:
            firsts[top] = done
        stages[top] = stage + 1
        starts[top + 1] = starts[top] + (half if stage == 1 else 0)
        counts[top + 1] = count - half if stage == 1 else half
        stages[top + 1] = 0
        top += 1
    return 0.0 + done


@compiled
def history_rates(
    risk: FloatArray,
    at: IntArray,
    keep: float,
    negligible: float,
    scratch: FloatArray,
    scale: FloatArray,
    intensity: FloatArray,
    divisor: float,
    rates: FloatArray,
) -> int:
    """The rates of an hour's history-made opportunities, in place.

    Near-repeat risk fades (``CrimeEngine._history_opportunities``): the risk of
    each cell of ``at`` is multiplied by ``keep``; where it falls below
    ``negligible`` it drops to 0 and the cell leaves ``at``, whose first entries
    become the cells that keep some, in their order (the first entries of
    ``scratch``, as long as ``at``, take their risk, for the caller to sum). The
    markets' rates, market type rows x markets laid end to end in ``rates``, are
    ``scale`` (by market type) times ``intensity`` (by market) over ``divisor``,
    as NumPy's ``scale[:, None] * intensity / divisor``.

    Returns:
        How many cells keep some risk.
    """
    kept = 0
    for i in range(at.size):
        cell = at[i]
        value = risk[cell] * keep
        if value < negligible:
            risk[cell] = 0.0
        else:
            risk[cell] = value
            at[kept] = cell
            scratch[kept] = value
            kept += 1
    m = intensity.size
    for i in range(scale.size):
        for j in range(m):
            rates[i * m + j] = scale[i] * intensity[j] / divisor
    return kept


@compiled
def locate(
    cum: FloatArray,
    u: FloatArray,
    column: int,
    count: int,
    n: int,
    rows: IntArray,
    cells: IntArray,
) -> None:
    """Type row and cell of an hour's ``count`` ordinary opportunities, in place.

    Opportunity ``i`` (the first ``count`` rows of ``u``) falls where the running
    sum of rates ``cum`` (type rows x ``n`` cells, laid end to end) first exceeds
    ``u[i, column] * cum[-1]``, the last entry at most: ``rows[i]`` and ``cells[i]``
    become the ``np.divmod`` by ``n`` of ``np.searchsorted(cum, x, side="right")``
    so bounded. Called by :func:`commit_hour` only (a kernel called from another
    is compiled once, into its caller).
    """
    last = cum.size - 1
    total = cum[last]
    for i in range(count):
        k = min(_first_above(cum, u[i, column] * total), last)
        rows[i] = k // n
        cells[i] = k % n


@compiled
def any_nonzero(values: FloatArray, at: IntArray) -> bool:
    """Whether any of ``values[at]`` is not 0 (from the first, up to the first found)."""
    found = False
    for i in at:
        if values[i] != 0.0:
            found = True
            break
    return found


# What an offence's chance of being seen reads (:func:`detection_chance`): visibility
# by type, this hour's patrol presence (agency x cell), CCTV coverage by cell, and the
# weights of patrols and cameras.
Seeing = tuple[FloatArray, FloatArray, FloatArray, float, float]


@compiled
def detection_chance(kind: int, cell: int, seeing: Seeing, scratch: FloatArray) -> float:
    """The chance that a guardian sees an offence: 1 - exp(-visibility x what they see).

    What they see is the patrol weight times the hour's presence in the cell, summed
    over agencies as NumPy sums a column (:func:`pairwise_sum`; ``scratch`` holds one
    number an agency), plus the CCTV weight times the cell's coverage: 0 where they
    see nothing, and then the chance is 0 to the bit.
    """
    visibility, presence, cctv, patrol_weight, cctv_weight = seeing
    agencies = presence.shape[0]
    for a in range(agencies):
        scratch[a] = presence[a, cell]
    seen = patrol_weight * pairwise_sum(scratch, agencies)
    seen += cctv_weight * cctv[cell]
    chance: float = 1.0 - math.exp(-visibility[kind] * seen)
    return chance


# What :func:`decide` reads besides the opportunities, their offenders and the
# guardians: the columns of the uniforms it reads, the offenders' custody, own
# arrests and their time, their homes, the memory of arrests (h), the weights of own
# and others' arrests, others' arrests near each cell, deterrence by type row, the
# displacement share, and each cell's neighbours (how many; the table).
Deciding = tuple[
    IntArray,
    FloatArray,
    FloatArray,
    FloatArray,
    IntArray,
    float,
    float,
    float,
    FloatArray,
    FloatArray,
    float,
    IntArray,
    IntArray,
]
# What :func:`offences` reads besides the offences themselves: the type table, the
# residents by cell, their trust, reporting propensity, watch, fear and
# victimisations, the watch bonus, the trust a victimisation keeps, the fear it adds,
# the day's victims by cell, the cells' centres and size, and the pool's offence
# counts and generations.
Victims = tuple[
    FloatArray,
    IntArray,
    NDArray[np.float32],
    NDArray[np.float32],
    NDArray[np.bool_],
    NDArray[np.float32],
    NDArray[np.int16],
    float,
    float,
    float,
    FloatArray,
    FloatArray,
    FloatArray,
    float,
    IntArray,
    IntArray,
]


@compiled
def hour_fields(
    strength: FloatArray,
    effective: FloatArray,
    area: FloatArray,
    keep: float,
    patrol: FloatArray,
    risk: FloatArray,
    at: IntArray,
    risk_keep: float,
    negligible: float,
    scratch: FloatArray,
    scale: FloatArray,
    intensity: FloatArray,
    divisor: float,
    rates: FloatArray,
) -> tuple[int, float, float]:
    """What an hour reads before its draws, in place, in one call.

    The patrol field (:func:`patrol_field`: ``strength``, ``effective``, ``area``,
    ``keep`` and ``patrol``), then the rates of the history-made opportunities
    (:func:`history_rates`, from ``risk`` to ``rates``, ``risk_keep`` its ``keep``).
    They share no array: the order is the callers' only.

    Returns:
        How many cells keep some near-repeat risk (:func:`history_rates`), the sum
        of their risk and that of the markets' rates, each NumPy's ``sum`` of the
        array (:func:`pairwise_sum`): the totals of the hour's parts.
    """
    patrol_field(strength, effective, area, keep, patrol)
    kept = history_rates(risk, at, risk_keep, negligible, scratch, scale, intensity, divisor, rates)
    return kept, pairwise_sum(scratch, kept), pairwise_sum(rates, rates.size)


# Where an hour's history-made opportunities fall (:func:`locate_history`): the
# near-repeat risk by cell, the cells that have some (ascending), the type rows that
# repeat, the rates summed over those cells (one total for every row that repeats), the
# markets' flat indices (market type rows x cells), their rates and their total (-1: no
# markets this hour), and the hour's total (the sum of the parts' totals, in order).
History = tuple[FloatArray, IntArray, IntArray, float, IntArray, FloatArray, float, float]


@compiled
def _part_at(parts: int, repeat_total: float, market_total: float, k: int) -> float:
    """The total of part ``k``: ``repeat_total`` for the rows that repeat, then the markets'."""
    if k < parts:
        return repeat_total
    return market_total


@compiled
def locate_history(
    u: FloatArray,
    start: int,
    column: int,
    n: int,
    history: History,
    rows: IntArray,
    cells: IntArray,
) -> None:
    """Type row and cell of each of an hour's history-made opportunities, in place.

    The parts are the rows that repeat, each over the cells with risk, then the
    markets (if ``market_total`` is not negative), with their totals in that order.
    Opportunity ``i`` (the rows of ``u`` from ``start``) takes, as NumPy did on
    arrays, the part where the running sum of the parts' totals (``np.cumsum``)
    first exceeds ``x = u[i, column] * total`` (the last part at most), then in
    that part the entry where the running sum of its rates first exceeds ``x``
    less the totals of the parts before it (the last entry at most): ``rows[i]``
    and ``cells[i]`` become its type row and cell.
    """
    risk, at, repeat_rows, repeat_total, market_flat, market_rates, market_total, total = history
    repeats = repeat_rows.size if at.size else 0
    parts = repeats + (1 if market_total >= 0.0 else 0)
    for i in range(start, u.shape[0]):
        x = u[i, column] * total
        # The part: np.searchsorted(np.cumsum(totals), x, side="right"), bounded.
        part = 0
        bound = _part_at(repeats, repeat_total, market_total, 0)
        while part < parts - 1 and not x < bound:
            part += 1
            bound += _part_at(repeats, repeat_total, market_total, part)
        x = x - (bound - _part_at(repeats, repeat_total, market_total, part))
        # The entry: np.searchsorted(np.cumsum(rates), x, side="right"), bounded.
        running = 0.0
        j = 0
        if part < repeats:
            last = at.size - 1
            while j < last:
                running += risk[at[j]]
                if x < running:
                    break
                j += 1
            rows[i] = repeat_rows[part]
            cells[i] = at[j]
        else:
            last = market_rates.size - 1
            while j < last:
                running += market_rates[j]
                if x < running:
                    break
                j += 1
            rows[i] = market_flat[j] // n
            cells[i] = market_flat[j] % n


@compiled
def commit_hour(
    hour: float,
    u: FloatArray,
    lengths: FloatArray,
    ordinary: int,
    cum: FloatArray,
    column: int,
    n: int,
    history: History,
    order_index: IntArray,
    columns: IntArray,
    offence_columns: IntArray,
    kept_columns: IntArray,
    picking: Picking,
    deciding: Deciding,
    guardians: Guardians,
    seeing: Seeing,
    victims: Victims,
    expected: FloatArray,
) -> tuple[IntArray, FloatArray, int]:
    """An hour's opportunities, located, to offences, in one call (:meth:`CrimeEngine._commit`).

    The first ``ordinary`` rows of ``u`` are the ordinary opportunities, located
    from the running sums of their rates ``cum`` (type rows x ``n`` cells) by
    :func:`locate`, with the uniform in ``column``; the rest were made by the run's
    history (:func:`locate_history`). (Called from Python, not from another kernel:
    a kernel calling this big one would compile its code twice, seconds on a first
    run.)

    Opportunity ``c`` of type row ``rows[c]`` (type ``order_index[rows[c]]``) in
    ``cells[c]`` meets an offender (:func:`pick_offenders`, from the uniforms in
    ``columns[0]`` and ``columns[1]``: home, who), who acts or not, here or next
    door (:func:`decide`); the offences, ordered by when they happen (``hour`` plus
    the uniform in ``columns[2]``; ties in opportunity order), get their chance of
    being seen (:func:`detection_chance`) and their numbers (:func:`offences`, which
    reads the uniforms in ``offence_columns`` and the exponential variates
    ``lengths`` of their rows).

    The chance of each opportunity to become an offence where it arose is added
    to ``expected`` (type row x cell), then, for those that could look next door,
    the share of the rest that moves to each neighbour times the chance there, in
    that order: the model's crime without the noise of the commit draws.

    Returns:
        For the offences in time order, two tables (two arrays cost less to hand
        back than six): the integers (type, cell, then the five of :func:`offences`)
        and the doubles (when, the eight of :func:`offences`, then the offence's
        uniforms in ``kept_columns``); and how many residents were victimised for
        the first time.
    """
    m = u.shape[0]
    rows = np.empty(m, dtype=np.int64)
    cells = np.empty(m, dtype=np.int64)
    locate(cum, u, column, ordinary, n, rows, cells)
    locate_history(u, ordinary, column, n, history, rows, cells)
    types = np.empty(m, dtype=np.int64)
    slots = np.empty(m, dtype=np.int64)
    c_home, c_who, c_time = columns[0], columns[1], columns[2]
    found = False
    for c in range(m):
        types[c] = order_index[rows[c]]
        slots[c] = -1
        if picking[7] > 0:
            slots[c] = _pick(types[c], cells[c], u[c, c_home], u[c, c_who], picking)
        found = found or slots[c] >= 0
    if not found:  # no offender with a propensity for these: nothing happens
        return (
            np.empty((0, 2 + OFFENCE_INTS), dtype=np.int64),
            np.empty((0, 1 + OFFENCE_FLOATS + kept_columns.size)),
            0,
        )
    chance, commit, where, looks, chance_next = decide(
        rows, cells, u, deciding[0], slots, hour, *deciding[1:], guardians
    )
    share, inside, next_door = deciding[10], deciding[11], deciding[12]
    for c in range(m):
        expected[rows[c], cells[c]] += chance[c]
    for row in range(looks.size):
        c = looks[row]
        cell = cells[c]
        moved = (1.0 - chance[c]) * share / inside[cell]
        for k in range(inside[cell]):  # the neighbours come first in the row
            expected[rows[c], next_door[cell, k]] += chance_next[row, k] * moved
    # The offences in time order, ties in opportunity order: an insertion sort, stable
    # (a few dozen an hour; NumPy's stable sort takes seconds to compile).
    count = 0
    for c in range(m):
        count += commit[c]
    done = np.empty(count, dtype=np.int64)
    when_done = np.empty(count)
    placed = 0
    for c in range(m):
        if not commit[c]:
            continue
        at = hour + u[c, c_time]
        j = placed
        while j > 0 and when_done[j - 1] > at:
            done[j] = done[j - 1]
            when_done[j] = when_done[j - 1]
            j -= 1
        done[j] = c
        when_done[j] = at
        placed += 1
    # The offences' rows, gathered in loops (NumPy's fancy indexing is slow to compile).
    kinds = np.empty(count, dtype=np.int64)
    where_done = np.empty(count, dtype=np.int64)
    slots_done = np.empty(count, dtype=np.int64)
    u_done = np.empty((count, u.shape[1]))
    lengths_done = np.empty((count, lengths.shape[1]))
    p_detect = np.empty(count)
    scratch = np.empty(seeing[1].shape[0])
    for i in range(count):
        c = done[i]
        kinds[i] = types[c]
        where_done[i] = where[c]
        slots_done[i] = slots[c]
        for j in range(u.shape[1]):
            u_done[i, j] = u[c, j]
        for j in range(lengths.shape[1]):
            lengths_done[i, j] = lengths[c, j]
        p_detect[i] = detection_chance(kinds[i], where_done[i], seeing, scratch)
    ints, floats, first_time = offences(
        kinds,
        where_done,
        when_done,
        slots_done,
        u_done,
        offence_columns,
        lengths_done,
        p_detect,
        *victims,
    )
    numbers = np.empty((count, 2 + ints.shape[1]), dtype=np.int64)
    values = np.empty((count, 1 + floats.shape[1] + kept_columns.size))
    for i in range(count):
        numbers[i, 0] = kinds[i]
        numbers[i, 1] = where_done[i]
        for j in range(ints.shape[1]):
            numbers[i, 2 + j] = ints[i, j]
        values[i, 0] = when_done[i]
        for j in range(floats.shape[1]):
            values[i, 1 + j] = floats[i, j]
        for j in range(kept_columns.size):
            values[i, 1 + floats.shape[1] + j] = u_done[i, kept_columns[j]]
    return numbers, values, first_time
