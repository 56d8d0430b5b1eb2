"""Compiled loops over the offender pool, on the days careers end and begin.

The offender pool's index (offenders by home, the running sums of their
propensities) is laid out again whenever a career ends. On NumPy it was a sort
and a dozen passes; here it is one kernel with the same additions in the same
order, so the same values to the bit (:func:`simulator.compiled.compiled`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.compiled import compiled

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@compiled
def index_offenders(
    home: IntArray,
    propensity: FloatArray,
    order: IntArray,
    cell_start: IntArray,
    weight: FloatArray,
    weight_cum: FloatArray,
    below: FloatArray,
) -> None:
    """The offender pool's index (:meth:`OffenderPool._index`), into the arrays given.

    For ``home`` (each slot's home cell) and ``propensity`` (slots x types):

    - ``order``: the slots sorted by home, slots of one home in their order (a
      stable sort, here by counting);
    - ``cell_start`` (cells + 1): where each cell's offenders start in ``order``;
    - ``weight`` (types x (cells + 1)): each type's propensity summed by home cell
      over the slots in their order from 0 (``np.bincount``), the last column 0;
    - ``weight_cum`` (types x cells): running sums of ``weight`` over the cells;
    - ``below`` (1 + types x slots): 0, then for each type the running sums of its
      propensity along ``order``, each plus the totals of the types before it
      summed one after the other (``np.cumsum`` of the totals, 0 for the first).
    """
    size = home.size
    n = cell_start.size - 1
    n_types = propensity.shape[1]
    for c in range(n + 1):
        cell_start[c] = 0
    for i in range(size):
        cell_start[home[i] + 1] += 1
    for c in range(n):
        cell_start[c + 1] += cell_start[c]
    # Each cell's slots in their order, after the cells before (a stable sort).
    place = cell_start[:n].copy()
    for i in range(size):
        c = home[i]
        order[place[c]] = i
        place[c] += 1
    for k in range(n_types):
        for c in range(n + 1):
            weight[k, c] = 0.0
        for i in range(size):
            weight[k, home[i]] += propensity[i, k]
        if n > 0:
            running = weight[k, 0]
            weight_cum[k, 0] = running
            for c in range(1, n):
                running = running + weight[k, c]
                weight_cum[k, c] = running
    below[0] = 0.0
    shift = 0.0
    for k in range(n_types):
        if size == 0:
            continue
        running = propensity[order[0], k]
        below[1 + k * size] = running + shift
        for j in range(1, size):
            running = running + propensity[order[j], k]
            below[1 + k * size + j] = running + shift
        # The next type's shift: the running total of the totals (k = 0: the first).
        shift = running if k == 0 else shift + running
