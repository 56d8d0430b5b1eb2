"""Compiled sums of the recorder's daily snapshot (:func:`simulator.compiled.compiled`).

Once a day the recorder takes the residents' mean trust and fear by home district
(:meth:`simulator.records.recorder.Recorder.citizens`). On NumPy that was, for
each of the two float32 arrays, ``np.add.reduceat(values, starts,
dtype=np.float64)`` over the runs of residents with the same home cell, then
``np.bincount`` of the runs' sums by district: a cast of every resident to
float64 and a call of NumPy's inner loop for each run (some 4,500 runs of a few
dozen residents in the baseline). :func:`district_sums` does the same additions
in one pass, in the same order, so it gives the same bits:

- ``reduceat`` starts a run's sum at its first value and adds NumPy's pairwise
  sum of the others (``pairwise_sum``, each value cast to float64, exactly):
  under 8 numbers one after the other from -0.0; up to 128, eight running sums
  started from the first eight numbers, added in pairs, then the rest one after
  the other; beyond, the numbers halved (the first half a multiple of 8) and
  each half summed so;
- ``bincount`` adds the runs' sums by district in the order of the runs, from 0.

The overall means stay NumPy's own ``mean``: its float32 pairwise sum runs on
vectors, which a compiled loop (Numba does not vectorise the eight running sums)
does not beat.

This module imports nothing of secsim but :mod:`simulator.compiled`. The crime
engine's :func:`simulator.crime.kernels.pairwise_sum` walks NumPy's halves the same
way over doubles; it is not called from here, on purpose: Numba keeps a kernel's
machine code per source file and does not notice when a kernel of another file that
it calls changes, so each kernels module calls only its own (and this one may not
import the crime engine).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.compiled import compiled

FloatArray = NDArray[np.float64]
Float32Array = NDArray[np.float32]
IntArray = NDArray[np.int64]

BLOCK = 128  # NumPy's PW_BLOCKSIZE: longer sums are halved
# Parts waiting on the stack of a long sum: at most two more per halving, and an
# int64 count of values is halved fewer than 64 times.
STACK = 192


@compiled
def _block_sum(values: Float32Array, start: int, n: int) -> float:
    """NumPy's float64 sum of the ``n`` values from ``start``, at most 128 of them.

    Each running sum starts at -0.0 plus a value: that value, cast, to the bit. The
    indices are unsigned: an index that may be negative would make the compiler look
    for Python's negative indexing at each read.
    """
    zero = -0.0
    first = np.uint64(start)
    if n < 8:
        res = zero
        for i in range(np.uint64(n)):
            res += values[first + i]
        return res
    one, two, three = np.uint64(1), np.uint64(2), np.uint64(3)
    four, five, six, seven = np.uint64(4), np.uint64(5), np.uint64(6), np.uint64(7)
    r0, r1 = zero + values[first], zero + values[first + one]
    r2, r3 = zero + values[first + two], zero + values[first + three]
    r4, r5 = zero + values[first + four], zero + values[first + five]
    r6, r7 = zero + values[first + six], zero + values[first + seven]
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
def district_sums(
    values: Float32Array, starts: IntArray, district: IntArray, sums: FloatArray
) -> None:
    """The float64 sums of ``values`` by district, in ``sums``.

    ``values`` lie in runs that begin at ``starts`` (increasing, the first 0; none
    empty), run ``k`` in district ``district[k]``. As NumPy's
    ``np.bincount(district, np.add.reduceat(values, starts, dtype=np.float64),
    minlength=sums.size)``, to the bit (see the module's docstring).

    NumPy halves a long sum recursively; a kernel that calls itself fails to load
    from Numba's cache, so the parts of a run wait on a stack (``parts``: start,
    size, whether it joins the two sums kept last): a part of at most 128 values is
    summed (:func:`_block_sum`) and kept in ``kept``; a joining part adds the last
    two kept. The first half is summed first, then the second.
    """
    sums[:] = 0.0
    parts = np.empty((3, STACK), dtype=np.int64)
    kept = np.empty(STACK)
    size = values.size
    runs = starts.size
    for k in range(runs):
        at = starts[k]
        rest = (starts[k + 1] if k + 1 < runs else size) - at - 1
        run = np.float64(values[at])
        if rest:
            parts[0, 0], parts[1, 0], parts[2, 0] = at + 1, rest, 0
            top = 1
            done = 0
            while top:
                top -= 1
                first, n, join = parts[0, top], parts[1, top], parts[2, top]
                if join:
                    done -= 1
                    kept[done - 1] = kept[done - 1] + kept[done]
                elif n <= BLOCK:
                    kept[done] = _block_sum(values, first, n)
                    done += 1
                else:
                    half = n // 2
                    half -= half % 8
                    parts[2, top] = 1  # joins the halves once both are summed
                    parts[0, top + 1], parts[1, top + 1], parts[2, top + 1] = (
                        first + half,
                        n - half,
                        0,
                    )
                    parts[0, top + 2], parts[1, top + 2], parts[2, top + 2] = first, half, 0
                    top += 3
            run += kept[0]
        sums[district[k]] += run
