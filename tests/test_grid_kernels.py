"""The compiled loops over the whole grid give, to the bit, what the code they replaced gave.

The sums around each cell (:func:`simulator.crime.grid_kernels.neighbour_sums`,
which :func:`simulator.crime.engine.neighbour_sum` calls), the running sums of the
opportunities' rates (:func:`~simulator.crime.grid_kernels.running_rates`) and the
means over the square around every cell from summed-area tables
(:func:`~simulator.crime.grid_kernels.square_means`, behind
:class:`simulator.crime.engine.SquareMeans`) are checked against that code,
written out here as the reference (``scipy.ndimage.correlate``, ``np.cumsum``, the
corners looked up cell by cell), on values spread over many orders of magnitude
(another order of additions gives other bits) and on the edge cases (one cell,
one row or column, a square wider than the grid). So is the risk a near repeat
triggers (:func:`~simulator.crime.grid_kernels.trigger_near_repeat`), against the
NumPy slices of the grid it replaced.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from simulator.crime import grid_kernels
from simulator.crime.engine import SquareMeans, crowd_factors, neighbour_sum

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _spread(rng: np.random.Generator, size: int | tuple[int, ...]) -> FloatArray:
    """Numbers over many orders of magnitude, some 0, some negative: sums depend on order."""
    values = rng.exponential(size=size) * 10.0 ** rng.uniform(-8, 4, size=size)
    out: FloatArray = values * (rng.random(size) < 0.8) * rng.choice([-1.0, 1.0], size=size)
    return out


def _same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


def plain_neighbour_sum(grid: FloatArray, nx: int, ny: int, radius: int) -> FloatArray:
    """``neighbour_sum`` as it was written on ``scipy.ndimage`` before its compiled loop."""
    if radius <= 0 or grid.size == 1:
        return np.zeros_like(grid)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1))
    kernel[radius, radius] = 0.0
    box = ndimage.correlate(grid.reshape(ny, nx), kernel, mode="constant", cval=0.0)
    return np.asarray(box.ravel(), dtype=grid.dtype)


def plain_square_means(rows: FloatArray, nx: int, ny: int, radius: int) -> FloatArray:
    """``SquareMeans(nx, ny, radius)(rows)`` as it was written on NumPy (cumsum, corners)."""
    k = rows.shape[0]
    sums = np.zeros((k, ny + 1, nx + 1))
    sums[:, 1:, 1:] = rows.reshape(k, ny, nx).cumsum(axis=1).cumsum(axis=2)
    tables = sums.reshape(k, -1)
    j, i = np.divmod(np.arange(nx * ny, dtype=np.int64), nx)
    j0, j1 = np.maximum(j - radius, 0), np.minimum(j + radius + 1, ny)
    i0, i1 = np.maximum(i - radius, 0), np.minimum(i + radius + 1, nx)
    w = nx + 1
    a, b, c, d = j1 * w + i1, j0 * w + i1, j1 * w + i0, j0 * w + i0
    count = ((j1 - j0) * (i1 - i0)).astype(float)
    out: FloatArray = (tables[:, a] - tables[:, b] - tables[:, c] + tables[:, d]) / count
    return out


grids = st.tuples(
    st.integers(1, 13), st.integers(1, 13), st.integers(0, 15), st.integers(0, 2**32 - 1)
)


@settings(max_examples=300, deadline=None)
@given(grid=grids)
def test_the_sums_around_each_cell_are_ndimages_to_the_bit(grid: tuple[int, int, int, int]) -> None:
    """One grid, or layers of grids each on its own; double or single precision."""
    nx, ny, radius, seed = grid
    rng = np.random.default_rng(seed)
    values = _spread(rng, nx * ny)
    assert _same_bits(
        neighbour_sum(values, nx, ny, radius), plain_neighbour_sum(values, nx, ny, radius)
    )
    single = values.astype(np.float32)
    assert _same_bits(
        neighbour_sum(single, nx, ny, radius), plain_neighbour_sum(single, nx, ny, radius)
    )
    layers = _spread(rng, (3, nx * ny))
    want = np.array([plain_neighbour_sum(layer, nx, ny, radius) for layer in layers])
    assert _same_bits(neighbour_sum(layers, nx, ny, radius), want)


def test_the_sums_around_each_cell_of_a_city_grid() -> None:
    """A grid of the size of the cities' (and longer than any vector), 168 hours at once."""
    rng = np.random.default_rng(5)
    layers = _spread(rng, (168, 100 * 70))
    want = np.array([plain_neighbour_sum(layer, 100, 70, 2) for layer in layers])
    assert _same_bits(neighbour_sum(layers, 100, 70, 2), want)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    types=st.integers(0, 5),
    hours=st.integers(1, 30),
    cells=st.sampled_from([1, 2, 7, 8, 9, 130, 1000]),
)
def test_the_running_rates_are_numpys_cumsum_over_the_types_laid_end_to_end(
    seed: int, types: int, hours: int, cells: int
) -> None:
    """Each hour's row runs over the first type's cells, then the next type's."""
    rng = np.random.default_rng(seed)
    rates = np.abs(_spread(rng, (types, hours, cells))).astype(np.float32)
    want = np.zeros((hours, max(1, types * cells)))
    for p in range(types):
        want[:, p * cells : (p + 1) * cells] = rates[p]
    np.cumsum(want, axis=1, out=want)
    got = np.zeros((hours, max(1, types * cells)))
    grid_kernels.running_rates(rates, got)
    assert _same_bits(got, want)


@settings(max_examples=300, deadline=None)
@given(grid=grids)
def test_square_means_over_the_whole_grid_are_the_corner_formula_to_the_bit(
    grid: tuple[int, int, int, int],
) -> None:
    """The summed-area tables and the means of every cell are those of cumsum and the
    corners looked up cell by cell; so are the means of a few cells."""
    nx, ny, radius, seed = grid
    rng = np.random.default_rng(seed)
    rows = _spread(rng, (3, nx * ny))
    square = SquareMeans(nx, ny, radius)
    want = plain_square_means(rows, nx, ny, radius)
    assert _same_bits(square(rows), want)
    some = np.arange(0, nx * ny, 2)
    assert _same_bits(square.at(square.tables(rows), some), want[:, some])


def test_the_crowd_factors_are_the_reference_over_the_plain_means() -> None:
    """What presence counts for: the reference over the means (at least one), in float32."""
    rng = np.random.default_rng(2)
    people = rng.exponential(size=(168, 30 * 20)) * 10.0 ** rng.uniform(-3, 3, size=(168, 600))
    people = people.astype(np.float32)
    means = plain_square_means(people.astype(float), 30, 20, 3)
    want = (40.0 / np.maximum(means, 1.0)).astype(np.float32)
    got = crowd_factors(people, 30, 20, 40.0, 3)
    assert got.flags.c_contiguous
    assert _same_bits(got, want)


def numpy_trigger(
    risk: FloatArray,
    nx: int,
    ny: int,
    cell: int,
    triggered: float,
    share: float,
    tau_h: float,
    land: np.ndarray | None,
    at: np.ndarray,
) -> np.ndarray:
    """``CrimeEngine._trigger_near_repeat`` as it was written on NumPy slices (the reference)."""
    grid = risk.reshape(ny, nx)
    j, i = divmod(cell, nx)
    j0, j1, i0, i1 = max(j - 1, 0), min(j + 2, ny), max(i - 1, 0), min(i + 2, nx)
    neighbours = (j1 - j0) * (i1 - i0) - 1
    if neighbours > 0:
        grid[j0:j1, i0:i1] += triggered * (1 - share) / neighbours / tau_h
        grid[j, i] -= triggered * (1 - share) / neighbours / tau_h
        grid[j, i] += triggered * share / tau_h
        if land is not None:
            grid[j0:j1, i0:i1] *= land.reshape(ny, nx)[j0:j1, i0:i1]
    else:
        grid[j, i] += triggered / tau_h
    box = (np.arange(j0, j1)[:, None] * nx + np.arange(i0, i1)).ravel()
    new = box[risk[box] != 0.0]
    pos = np.searchsorted(at, new)
    fresh = at[np.minimum(pos, at.size - 1)] != new if at.size else new >= 0
    if not fresh.any():
        return at
    new = new[fresh]
    merged = np.empty(at.size + new.size, dtype=np.int64)
    put = pos[fresh] + np.arange(new.size)
    old = np.ones(merged.size, dtype=bool)
    old[put] = False
    merged[put] = new
    merged[old] = at
    return merged


@settings(max_examples=300, deadline=None)
@given(
    nx=st.integers(1, 6),
    ny=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    triggers=st.integers(1, 6),
    share=st.sampled_from([0.0, 0.3, 1.0 / 3.0, 1.0]),
    with_land=st.booleans(),
)
def test_a_near_repeat_adds_the_risk_the_numpy_slices_added_to_the_bit(
    nx: int, ny: int, seed: int, triggers: int, share: float, with_land: bool
) -> None:
    """Repeats one after the other on a grid with risk here and there (off land too)."""
    rng = np.random.default_rng(seed)
    n = nx * ny
    risk = _spread(rng, n) * (rng.random(n) < 0.3)
    land = (rng.random(n) < 0.8).astype(float) if with_land else None
    at = np.flatnonzero(risk != 0.0).astype(np.int64)
    want_risk, got_risk, want_at, got_at = risk.copy(), risk.copy(), at, at
    for _ in range(triggers):
        cell = int(rng.integers(n))
        triggered = float(rng.uniform(0.01, 3.0))
        tau_h = float(rng.uniform(1.0, 700.0))
        want_at = numpy_trigger(want_risk, nx, ny, cell, triggered, share, tau_h, land, want_at)
        got_at = grid_kernels.trigger_near_repeat(
            got_risk,
            nx,
            ny,
            cell,
            triggered,
            share,
            tau_h,
            np.empty(0) if land is None else land,
            got_at,
        )
        assert _same_bits(got_risk, want_risk)
        assert got_at.tolist() == want_at.tolist()


def test_the_grid_kernels_get_c_ordered_arrays() -> None:
    """The engine's calls give each kernel C-ordered arrays: one compiled version serves all."""
    rng = np.random.default_rng(1)
    week = rng.random((168, 12 * 9)).astype(np.float32)
    neighbour_sum(week[:, ::-1].astype(float), 12, 9, 2)  # a strided view, made contiguous
    crowd_factors(np.asfortranarray(week), 12, 9, 40.0, 3)
    out = np.zeros((168, 2 * 12 * 9))
    grid_kernels.running_rates(np.ascontiguousarray(np.stack([week, week])), out)
    for kernel in (
        grid_kernels.neighbour_sums,
        grid_kernels.running_rates,
        grid_kernels.square_means,
    ):
        assert kernel.signatures
        for signature in kernel.signatures:
            layouts = {getattr(t, "layout", None) for t in signature} - {None}
            assert layouts == {"C"}, (kernel, signature)
