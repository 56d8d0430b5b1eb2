"""The once-a-day compiled loops give, to the bit, what the NumPy code they replaced gave.

The offender pool's index (:func:`simulator.crime.pool_kernels.index_offenders`),
the residents' daily update in cells of many residents
(:func:`simulator.world.kernels.daily_update`) and the recorder's sums of trust and
fear by district (:func:`simulator.records.kernels.district_sums`) are checked
against that code,
written out here as the reference, on random inputs whose sums round (values
spread over many orders of magnitude, so that another order of additions gives
other bits) and on the edge cases (nobody, one, cells without anyone).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.crime import pool_kernels
from simulator.crime.offenders import OffenderPool
from simulator.model import SecurityModel
from simulator.records import kernels as records_kernels
from simulator.scenario.schema import OffenderSpec
from simulator.world import kernels as world_kernels
from simulator.world.registries import HOURS_PER_YEAR

from .conftest import SMALL_TOWN, scenario_from

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _spread(rng: np.random.Generator, size: int | tuple[int, ...]) -> FloatArray:
    """Positive numbers over many orders of magnitude: their sums depend on the order."""
    out: FloatArray = rng.exponential(size=size) * 10.0 ** rng.uniform(-8, 4, size=size)
    return out


def plain_index(home: np.ndarray, propensity: FloatArray, n: int) -> dict[str, np.ndarray]:
    """``OffenderPool._index`` as it was written on NumPy before its compiled loop."""
    n_types = propensity.shape[1]
    size = home.size
    order = np.argsort(home, kind="stable")
    counts = np.bincount(home, minlength=n)
    cell_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    weight = np.zeros((n_types, n + 1))
    for k in range(n_types):
        weight[k, :n] = np.bincount(home, weights=propensity[:, k], minlength=n)
    cum = np.cumsum(np.ascontiguousarray(propensity[order].T), axis=1)
    totals = cum[:, -1] if size else np.zeros(n_types)
    shift = np.concatenate([[0.0], np.cumsum(totals)[:-1]])
    cum_flat = (cum + shift[:, None]).ravel()
    return {
        "order": order,
        "cell_start": cell_start,
        "weight": weight,
        "weight_cum": np.cumsum(weight[:, :n], axis=1),
        "below": np.concatenate([[0.0], cum_flat]),
    }


def compiled_index(home: np.ndarray, propensity: FloatArray, n: int) -> dict[str, np.ndarray]:
    size, n_types = propensity.shape
    out = {
        "order": np.empty(size, dtype=np.int64),
        "cell_start": np.empty(n + 1, dtype=np.int64),
        "weight": np.empty((n_types, n + 1)),
        "weight_cum": np.empty((n_types, n)),
        "below": np.empty(1 + n_types * size),
    }
    pool_kernels.index_offenders(home, propensity, *out.values())
    return out


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([0, 1, 2, 7, 50, 400]),
    n=st.integers(1, 60),
    n_types=st.integers(1, 7),
)
def test_the_offenders_index_is_the_numpy_index_to_the_bit(
    seed: int, size: int, n: int, n_types: int
) -> None:
    """Offenders sorted by home (slots of one home in their order), where each cell's
    start, the propensity by cell and its running sums, and the running sums along
    the order shifted by the types before: every entry, every bit."""
    rng = np.random.default_rng(seed)
    # Few homes among many cells, or many offenders in a few: empty cells, long runs.
    homes = rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False)
    home = rng.choice(homes, size=size).astype(np.int64)
    propensity = _spread(rng, (size, n_types))
    want, got = plain_index(home, propensity, n), compiled_index(home, propensity, n)
    for name, value in want.items():
        assert got[name].dtype == value.dtype, name
        assert np.array_equal(got[name], value), name


@pytest.fixture(scope="module")
def town() -> SecurityModel:
    """The small town with offences (its residents and territory), not run."""
    crime: dict[str, object] = {"crime": {}, "run__days": 1}
    for name in ("incivility", "theft", "burglary", "assault", "drug_dealing", "serious_violence"):
        crime[f"competences__{name}"] = ["state_police"]
    return SecurityModel(scenario_from(SMALL_TOWN, **crime), seed=1)


def test_the_index_of_a_pool_whose_careers_end_is_the_numpy_index(town: SecurityModel) -> None:
    """A pool of short careers, advanced by a year: new homes, new propensities."""
    pool = OffenderPool(
        OffenderSpec(career_years=0.5),
        4,
        town.territory,
        town.population,
        np.random.SeedSequence(7),
        2,
    )
    homes = pool.home.copy()
    assert pool.advance(HOURS_PER_YEAR) > 0
    assert not np.array_equal(pool.home, homes)
    want = plain_index(pool.home, pool.propensity, pool._t.n_cells)
    assert np.array_equal(pool._order, want["order"])
    assert np.array_equal(pool._cell_start, want["cell_start"])
    assert np.array_equal(pool._weight_flat, want["weight"].ravel())
    assert np.array_equal(pool._weight_cum, want["weight_cum"])
    assert np.array_equal(pool._below, want["below"])
    assert np.array_equal(pool._cum_flat, want["below"][1:])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_days_trust_and_fear_in_cells_of_many_residents_are_numpys(seed: int) -> None:
    """Cells of up to a hundred residents, whose loop runs on vectors (test_kernels
    checks cells of a few): float32 to the bit, as NumPy computes it element-wise."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 100, int(rng.integers(1, 30)))
    first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = int(first[-1])
    trust0, trust, fear = (rng.random(n).astype(np.float32) for _ in range(3))
    gain = (rng.random(counts.size) * (rng.random(counts.size) < 0.5)).astype(np.float32)
    worry = (rng.random(counts.size) * 0.3).astype(np.float32)
    recovery, keep = np.float32(rng.random() * 0.1), np.float32(1.0 - rng.random() * 0.1)
    g, w = np.repeat(gain, counts), np.repeat(worry, counts)
    one = np.float32(1.0)
    want_trust = trust + (one - trust) * g
    want_trust = want_trust + (trust0 - want_trust) * recovery
    want_fear = (fear + (one - fear) * w) * keep
    world_kernels.daily_update(first, gain, worry, trust, trust0, fear, recovery, keep)
    assert want_trust.dtype == want_fear.dtype == np.float32
    np.testing.assert_array_equal(trust, want_trust)
    np.testing.assert_array_equal(fear, want_fear)


def numpy_district_sums(
    values: np.ndarray, starts: np.ndarray, district: np.ndarray, n: int
) -> FloatArray:
    """``Recorder.citizens``'s sums by district as they were written on NumPy."""
    sums: FloatArray = np.bincount(
        district, np.add.reduceat(values, starts, dtype=np.float64), minlength=n
    )
    return sums


def compiled_district_sums(
    values: np.ndarray, starts: np.ndarray, district: np.ndarray, n: int
) -> FloatArray:
    sums = np.full(n, np.nan)  # every entry written, the districts without runs too
    records_kernels.district_sums(values, starts, district, sums)
    return sums


def _runs(lengths: np.ndarray, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The starts of runs of ``lengths`` laid end to end, and a district for each."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return starts, rng.integers(0, n, lengths.size).astype(np.int64)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    longest=st.sampled_from([1, 8, 9, 40, 129, 300, 1100]),
    runs=st.integers(1, 40),
    n=st.integers(1, 9),
)
def test_the_recorders_sums_by_district_are_numpys_to_the_bit(
    seed: int, longest: int, runs: int, n: int
) -> None:
    """Runs of one resident to a thousand (NumPy's eight running sums, its halving
    beyond 128 numbers, twice beyond 256), float32 values over many orders of
    magnitude, districts without any run: every bit of every district's sum."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, longest + 1, runs)
    starts, district = _runs(lengths, rng, n)
    values = _spread(rng, int(lengths.sum())).astype(np.float32)
    want = numpy_district_sums(values, starts, district, n)
    assert compiled_district_sums(values, starts, district, n).tobytes() == want.tobytes()


@pytest.mark.parametrize(
    "length", [1, 2, 7, 8, 9, 15, 16, 17, 128, 129, 130, 136, 137, 256, 257, 258, 1000, 5001]
)
def test_a_run_of_each_length_at_numpys_bounds_sums_as_numpy(length: int) -> None:
    """A run on each side of NumPy's bounds (8 running sums, blocks of 128, halves
    rounded to multiples of 8), alone, after a run of one and before one."""
    rng = np.random.default_rng(length)
    for lengths in ([length], [1, length], [length, 1], [3, length, length + 1]):
        starts, district = _runs(np.array(lengths), rng, 2)
        values = _spread(rng, int(sum(lengths))).astype(np.float32)
        want = numpy_district_sums(values, starts, district, 2)
        assert compiled_district_sums(values, starts, district, 2).tobytes() == want.tobytes()


@pytest.mark.parametrize("special", [-0.0, np.nan, np.inf, -np.inf])
def test_the_sums_by_district_keep_numpys_zeros_nans_and_infinities(special: float) -> None:
    """Runs all of -0.0, NaN or infinities, and a few of them among other values:
    NumPy's result for each district (a sum by district starts at +0.0)."""
    rng = np.random.default_rng(3)
    lengths = np.array([1, 5, 8, 20, 200, 3])
    starts, district = _runs(lengths, rng, 4)
    values = np.full(int(lengths.sum()), special, dtype=np.float32)
    want = numpy_district_sums(values, starts, district, 4)
    assert compiled_district_sums(values, starts, district, 4).tobytes() == want.tobytes()
    values = _spread(rng, values.size).astype(np.float32)
    values[rng.choice(values.size, 4, replace=False)] = special
    want = numpy_district_sums(values, starts, district, 4)
    assert compiled_district_sums(values, starts, district, 4).tobytes() == want.tobytes()
