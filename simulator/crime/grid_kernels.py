"""Compiled loops over the grid: when the crime engine is built, once a day, and a near repeat.

How many residents, offenders or recent arrests are within reach of each cell is a
sum over the square around it (:func:`neighbour_sums`): ``scipy.ndimage.correlate``
did it one grid at a time, 168 times when the engine was built and once a day for
the arrests. The running sums of the ordinary opportunities' rates, per hour of
the week (:func:`running_rates`), were a copy into a table and NumPy's ``cumsum``.
The risk a burglary triggers around its cell (:func:`trigger_near_repeat`) was
added on NumPy slices of the grid. All are plain loops here with the same
operations in the same order, so the same values to the bit
(:func:`simulator.compiled.compiled`); they import nothing of secsim but
:mod:`simulator.compiled`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.compiled import compiled

FloatArray = NDArray[np.float64]
Float32Array = NDArray[np.float32]


@compiled
def neighbour_sums(grids: FloatArray, nx: int, ny: int, radius: int, out: FloatArray) -> None:
    """Into ``out``, the sum of each grid's values around each cell, the cell excluded.

    ``grids`` and ``out`` are layers x cells (the cells of an ``nx`` x ``ny`` grid,
    row by row). Each cell's neighbours in the square of ``radius`` cells around it
    are added from 0, one after the other in the square's row-major order, cells
    off the grid left out: what ``scipy.ndimage.correlate`` with a kernel of ones (0
    at the centre) adds, as it adds 0 for a cell off the grid and for the centre.
    The additions run along a row of cells at a time (each cell's own additions
    stay in their order), on views indexed from 0, which the compiler vectorises.
    """
    row = np.empty(nx)
    for layer in range(grids.shape[0]):
        grid = grids[layer]
        for j in range(ny):
            row[:] = 0.0
            for jj in range(max(0, j - radius), min(ny, j + radius + 1)):
                for di in range(-radius, radius + 1):
                    lo, hi = max(0, -di), min(nx, nx - di)
                    if (jj == j and di == 0) or hi <= lo:
                        continue
                    # The cells lo..hi-1 of the row, whose neighbour i + di is on the grid.
                    sums = row[lo:hi]
                    neighbours = grid[jj * nx + lo + di : jj * nx + hi + di]
                    for i in range(hi - lo):
                        sums[i] += neighbours[i]
            into = out[layer, j * nx : (j + 1) * nx]
            for i in range(nx):
                into[i] = row[i]


@compiled
def running_rates(rates: Float32Array, out: FloatArray) -> None:
    """Running sums of the rates of each hour, types laid end to end, into ``out``.

    ``rates`` is types x hours x cells; row ``h`` of ``out`` (hours x (types x
    cells)) runs over the first type's cells at hour ``h``, then the second's, and
    so on: ``np.cumsum`` of that row in double precision (the first value, then
    each sum plus the next value).
    """
    n_types, hours, cells = rates.shape
    for h in range(hours):
        row = out[h]
        total = 0.0
        for k in range(n_types):
            values = rates[k, h]
            sums = row[k * cells : (k + 1) * cells]
            for c in range(cells):
                value = np.float64(values[c])
                total = value if k == 0 and c == 0 else total + value
                sums[c] = total


@compiled
def square_means(rows: FloatArray, nx: int, ny: int, radius: int, out: FloatArray) -> None:
    """Each cell's mean over the square of ``radius`` around it, clipped to the grid.

    ``rows`` and ``out`` are layers x cells. For each layer, the summed-area table
    first ((ny + 1) x (nx + 1): a row and a column of zeros, then entry (j + 1,
    i + 1) the sum of the cells (j', i') with j' <= j and i' <= i), as NumPy's
    ``cumsum`` over the rows of the grid and then over its columns gives it: each
    column's running sum down the rows (the first value, then each sum plus the
    next), then each row's running sum of those along the columns. Then each
    cell's mean: the table at the square's far corner, less those at its two near
    edges, plus that at its near corner, over the number of cells in the square,
    in that order (:meth:`simulator.crime.engine.SquareMeans.at`).
    """
    width = nx + 1
    table = np.zeros((ny + 1) * width)
    down = np.empty(nx)  # each column's running sum down to the current row
    for layer in range(rows.shape[0]):
        grid = rows[layer]
        for j in range(ny):
            values = grid[j * nx : (j + 1) * nx]
            if j == 0:
                for i in range(nx):
                    down[i] = values[i]
            else:
                for i in range(nx):
                    down[i] = down[i] + values[i]
            sums = table[(j + 1) * width : (j + 2) * width]
            total = 0.0
            for i in range(nx):
                total = down[i] if i == 0 else total + down[i]
                sums[i + 1] = total
        means = out[layer]
        for j in range(ny):
            j0, j1 = max(j - radius, 0), min(j + radius + 1, ny)
            for i in range(nx):
                i0, i1 = max(i - radius, 0), min(i + radius + 1, nx)
                count = np.float64((j1 - j0) * (i1 - i0))
                far = table[j1 * width + i1] - table[j0 * width + i1]
                means[j * nx + i] = (far - table[j1 * width + i0] + table[j0 * width + i0]) / count


@compiled
def trigger_near_repeat(
    near_repeat: FloatArray,
    nx: int,
    ny: int,
    cell: int,
    triggered: float,
    same_cell_share: float,
    tau_h: float,
    land: FloatArray,
    risk_at: NDArray[np.int64],
) -> NDArray[np.int64]:
    """The risk an offence that repeats triggers at ``cell``; the cells with risk after it.

    At first, the rate ``triggered / tau_h`` (``near_repeat``, cells row by row): a
    ``same_cell_share`` of it at the cell, the rest spread evenly over its
    neighbours on the grid; with ``land`` (1 on land, 0 off it; empty when all is
    land) the spill-over off land is lost. The same operations in the same order as
    on NumPy slices of the grid, to the bit. ``risk_at`` (ascending) lists the cells
    whose risk is not 0; the box's cells that now have risk join it, in order (the
    array itself when none is new).
    """
    j, i = cell // nx, cell % nx
    j0, j1 = max(j - 1, 0), min(j + 2, ny)
    i0, i1 = max(i - 1, 0), min(i + 2, nx)
    neighbours = (j1 - j0) * (i1 - i0) - 1
    if neighbours > 0:
        spread = triggered * (1 - same_cell_share) / neighbours / tau_h
        for jj in range(j0, j1):
            for ii in range(i0, i1):
                near_repeat[jj * nx + ii] += spread
        near_repeat[cell] -= spread
        near_repeat[cell] += triggered * same_cell_share / tau_h
        if land.size:
            for jj in range(j0, j1):
                for ii in range(i0, i1):
                    near_repeat[jj * nx + ii] *= land[jj * nx + ii]
    else:
        near_repeat[cell] += triggered / tau_h
    # The box's cells with risk that risk_at does not list yet, ascending.
    new = np.empty(9, dtype=np.int64)
    n_new = 0
    for jj in range(j0, j1):
        for ii in range(i0, i1):
            c = jj * nx + ii
            if near_repeat[c] != 0.0 and not _listed(risk_at, c):
                new[n_new] = c
                n_new += 1
    if n_new == 0:
        return risk_at
    merged = np.empty(risk_at.size + n_new, dtype=np.int64)
    a = 0
    b = 0
    for k in range(merged.size):
        if b < n_new and (a == risk_at.size or new[b] < risk_at[a]):
            merged[k] = new[b]
            b += 1
        else:
            merged[k] = risk_at[a]
            a += 1
    return merged


@compiled
def _listed(sorted_cells: NDArray[np.int64], cell: int) -> bool:
    """Whether ``cell`` is in ``sorted_cells`` (ascending): a binary search."""
    lo = 0
    hi = sorted_cells.size
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_cells[mid] < cell:
            lo = mid + 1
        else:
            hi = mid
    return lo < sorted_cells.size and sorted_cells[lo] == cell
