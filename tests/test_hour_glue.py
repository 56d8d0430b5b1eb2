"""The compiled calls of the crime engine's hour give the answers of the array code they
replaced, to the bit.

The hour's history-made rates (near-repeat fading, the markets' rates), where its
ordinary opportunities fall and whether an enforcer stood at a market were some
twenty NumPy calls on arrays of a few dozen numbers; they are now three compiled
calls (:mod:`simulator.crime.kernels`). The references below are that array code,
written out; the rates span many orders of magnitude, where any other order of the
operations would show in the last bits. The markets' arrays, kept from hour to hour,
are checked against fresh ones as enforcement moves the markets.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.crime import kernels
from simulator.crime.engine import (
    _NEGLIGIBLE_RATE,
    _U,
    _UNIFORMS,
    CrimeEngine,
    _MarketArrays,
    _sum,
)
from simulator.model import SecurityModel
from simulator.scenario import load_scenario

from .conftest import SCENARIOS


def spread(rng: np.random.Generator, size: int) -> np.ndarray:
    """Positive numbers over twenty orders of magnitude (summation order shows)."""
    values: np.ndarray = rng.random(size) * 10.0 ** rng.uniform(-10, 10, size)
    return values


def plain_history_rates(
    risk: np.ndarray,
    at: np.ndarray,
    keep: float,
    scale: np.ndarray,
    intensity: np.ndarray,
    divisor: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hour's rates as the engine made them on arrays (_fade_risk, then
    _history_opportunities): faded risk, the cells that keep some, the markets' rates."""
    risk = risk.copy()
    faded = risk[at] * keep
    dropped = faded < _NEGLIGIBLE_RATE
    risk[at] = np.where(dropped, 0.0, faded)
    rate = scale[:, None] * intensity / max(1, divisor)
    return risk, at[~dropped], rate.ravel()


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cells=st.integers(1, 600),
    market_types=st.integers(0, 3),
    markets=st.integers(0, 80),
    divisor=st.integers(0, 5),
)
def test_an_hours_history_rates_are_those_of_the_arrays(
    seed: int, cells: int, market_types: int, markets: int, divisor: int
) -> None:
    """Risk fades (some drops out of the cells that hold some), the markets' rates, to
    the bit; the kept risk, laid out for the caller, sums to the array formula's sum."""
    rng = np.random.default_rng(seed)
    risk = np.zeros(cells)
    at = np.sort(rng.choice(cells, size=int(rng.integers(0, cells + 1)), replace=False))
    risk[at] = spread(rng, at.size) * 10.0 ** rng.uniform(-12, 0, at.size)
    keep = float(rng.uniform(0.5, 1.0))
    scale = spread(rng, market_types)
    intensity = spread(rng, markets) if market_types else np.empty(0)
    want_risk, want_at, want_rates = plain_history_rates(risk, at, keep, scale, intensity, divisor)
    rates = np.full(scale.size * intensity.size, np.nan)
    scratch = np.full(cells, np.nan)
    kept = kernels.history_rates(
        risk,
        at,
        keep,
        _NEGLIGIBLE_RATE,
        scratch,
        scale,
        intensity,
        float(max(1, divisor)),
        rates,
    )
    np.testing.assert_array_equal(risk, want_risk)
    np.testing.assert_array_equal(at[:kept], want_at)
    np.testing.assert_array_equal(scratch[:kept], want_risk[want_at])
    assert scratch[:kept].sum() == want_risk[want_at].sum()
    np.testing.assert_array_equal(rates, want_rates)


@pytest.mark.parametrize(
    "size", [0, 1, 7, 8, 9, 15, 16, 127, 128, 129, 135, 136, 137, 255, 256, 1000, 4900, 8193]
)
def test_sums_in_compiled_pairs_are_numpys_sums(size: int) -> None:
    """``pairwise_sum`` is NumPy's ``sum`` to the bit: one after the other under 8
    numbers, eight running sums up to 128, halves beyond (at multiples of 8), whatever
    the signs; a NaN or infinities of both signs give NaN; negative zeros sum to 0."""
    rng = np.random.default_rng(size)
    for values in (
        spread(rng, size),
        spread(rng, size) * rng.choice([-1.0, 1.0], size),
        np.full(size, -0.0),
    ):
        padded = np.concatenate([values, spread(rng, 9)])  # numbers after the n summed
        want = values.sum()
        got = kernels.pairwise_sum(padded, size)
        assert got == want and np.signbit(got) == np.signbit(want)
    if size:
        values = spread(rng, size)
        values[size // 2] = np.nan
        assert np.isnan(kernels.pairwise_sum(values, size))
        values[size // 2] = np.inf
        values[-1] = -np.inf
        if size > 1:
            with np.errstate(invalid="ignore"):
                assert np.isnan(values.sum())
            assert np.isnan(kernels.pairwise_sum(values, size))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cells=st.integers(1, 3000), markets=st.integers(0, 200))
def test_an_hours_totals_are_numpys_sums_of_its_rates(seed: int, cells: int, markets: int) -> None:
    """``hour_fields`` hands back the sums the engine took with NumPy: the risk of the
    cells that keep some (as laid out in the scratch) and the markets' rates."""
    rng = np.random.default_rng(seed)
    risk = np.zeros(cells)
    at = np.sort(rng.choice(cells, size=int(rng.integers(0, cells + 1)), replace=False))
    risk[at] = spread(rng, at.size) * 10.0 ** rng.uniform(-12, 0, at.size)
    scale, intensity = spread(rng, 2), spread(rng, markets)
    rates, scratch = np.full(2 * markets, np.nan), np.full(cells, np.nan)
    agencies = int(rng.integers(1, 4))
    effective, area, patrol = rng.random((agencies, cells)), rng.random(cells), np.empty(cells)
    kept, repeat_total, market_total = kernels.hour_fields(
        rng.random(agencies), effective, area, 0.9, patrol, risk, at, 0.95,
        _NEGLIGIBLE_RATE, scratch, scale, intensity, 3.0, rates,
    )  # fmt: skip
    assert repeat_total == float(scratch[:kept].sum())
    assert market_total == float(rates.sum())


def plain_locate(
    cum: np.ndarray, u: np.ndarray, column: int, total: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """_ordinary_opportunities on arrays: np.divmod of the running sum's search."""
    found = np.minimum(np.searchsorted(cum, u[:, column] * total, side="right"), cum.size - 1)
    rows, cells = np.divmod(found, n)
    return rows, cells


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    types=st.integers(1, 4),
    n=st.integers(1, 300),
    count=st.integers(0, 60),
    beyond=st.booleans(),
)
def test_ordinary_opportunities_fall_where_the_arrays_put_them(
    seed: int, types: int, n: int, count: int, beyond: bool
) -> None:
    """Ties (cells without rate repeat the running sum, the search goes past them) and
    a draw at the last sum (the last entry) as np.searchsorted then np.divmod."""
    rng = np.random.default_rng(seed)
    rates = spread(rng, types * n) * (rng.random(types * n) < 0.6)
    cum = np.cumsum(rates)
    u = rng.random((count, len(_UNIFORMS)))
    if count:
        u[0, _U["where"]] = 0.0
        u[-1, _U["where"]] = (cum[cum > 0][0] / cum[-1]) if cum[-1] > 0 else 0.5  # a tie
        if beyond:
            u[-1, _U["where"]] = 1.0  # at the last sum: past every entry, so the last
    rows = np.full(count + 2, -1, dtype=np.int64)
    cells = np.full(count + 2, -1, dtype=np.int64)
    kernels.locate(cum, u, _U["where"], count, n, rows, cells)
    assert (rows[count:] == -1).all() and (cells[count:] == -1).all()  # only the count's
    rows, cells = rows[:count], cells[:count]
    want_rows, want_cells = plain_locate(cum, u, _U["where"], float(cum[-1]), n)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(cells, want_cells)


def plain_locate_history(
    u: np.ndarray,
    n: int,
    risk: np.ndarray,
    at: np.ndarray,
    repeat_rows: np.ndarray,
    market_flat: np.ndarray,
    market_rates: np.ndarray,
    markets: bool,
) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """_history_opportunities on arrays (as at db61a7d): the parts' totals, the part
    of each draw by np.searchsorted on their running sums, then its index in the part.

    Returns:
        The type rows and cells, the rows' total, the markets' (-1: none), the hour's.
    """
    offsets: list[int] = []
    wheres: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    repeat = repeat_rows.tolist() if at.size else []
    totals_of_parts = [float(risk[at].sum())] * len(repeat)
    for row in repeat:
        offsets.append(row * n)
        wheres.append(at)
        weights.append(risk[at])
    if markets:
        totals_of_parts.append(float(market_rates.sum()))
        offsets.append(0)
        wheres.append(market_flat)
        weights.append(market_rates)
    total = _sum(totals_of_parts)
    totals = np.array(totals_of_parts)
    x = u[:, _U["where"]] * total
    bounds = np.cumsum(totals)
    part = np.minimum(np.searchsorted(bounds, x, side="right"), totals.size - 1)
    x = x - (bounds - totals)[part]
    flat = np.full(u.shape[0], -1, dtype=np.int64)
    for k, weight_k in enumerate(weights):
        sel = part == k
        if sel.any():
            found = np.searchsorted(np.cumsum(weight_k), x[sel], side="right")
            flat[sel] = (offsets[k] + wheres[k])[np.minimum(found, weight_k.size - 1)]
    rows, cells = np.divmod(flat, n)
    repeat_total = totals_of_parts[0] if repeat else 0.0
    return rows, cells, repeat_total, totals_of_parts[-1] if markets else -1.0, total


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    repeats=st.integers(0, 9),
    market_types=st.integers(0, 3),
    markets=st.integers(0, 6),
    count=st.integers(1, 40),
    start=st.integers(0, 5),
)
def test_history_opportunities_fall_where_the_arrays_put_them(
    seed: int, n: int, repeats: int, market_types: int, markets: int, count: int, start: int
) -> None:
    """The parts (each row that repeats over the cells with risk, then the markets) and
    the entries in them as the array code found them: ties where rates are 0 (the search
    goes past them, from the first draw at 0), draws at the end of a part, eight parts
    and more (their total summed in pairs); rows before ``start`` are left alone."""
    rng = np.random.default_rng(seed)
    risk = np.zeros(n)
    at = np.sort(rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False))
    risk[at] = spread(rng, at.size) * (rng.random(at.size) < 0.7)
    repeat_rows = np.sort(rng.choice(9, size=repeats, replace=False)).astype(np.int64)
    at_markets = market_types > 0 and markets > 0
    cells = np.sort(rng.choice(n, size=min(markets, n), replace=False))
    rows_m = np.arange(9, 9 + market_types)
    market_flat = (rows_m[:, None] * n + cells).ravel() if at_markets else np.empty(0, np.int64)
    market_rates = spread(rng, market_flat.size) * (rng.random(market_flat.size) < 0.8)
    if not (at.size and repeats) and not at_markets:
        return  # the hour draws nothing
    u = rng.random((start + count, len(_UNIFORMS)))
    u[start, _U["where"]] = 0.0
    u[-1, _U["where"]] = np.nextafter(1.0, 0.0)
    rows, cells_found, repeat_total, market_total, total = plain_locate_history(
        u[start:], n, risk, at, repeat_rows, market_flat, market_rates, at_markets
    )
    got_rows = np.full(start + count, -7, dtype=np.int64)
    got_cells = np.full(start + count, -7, dtype=np.int64)
    history = (
        risk, at, repeat_rows, repeat_total, market_flat, market_rates, market_total, total
    )  # fmt: skip
    kernels.locate_history(u, start, _U["where"], n, history, got_rows, got_cells)
    assert (got_rows[:start] == -7).all() and (got_cells[:start] == -7).all()
    np.testing.assert_array_equal(got_rows[start:], rows)
    np.testing.assert_array_equal(got_cells[start:], cells_found)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(0, 50), picks=st.integers(0, 20))
def test_an_enforcer_at_a_market_is_seen_as_by_any(seed: int, size: int, picks: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.random(size + 1) * (rng.random(size + 1) < 0.1)
    at = rng.integers(0, size + 1, picks)
    assert kernels.any_nonzero(values, at) == bool(values[at].any())


def fresh_market_arrays(engine: CrimeEngine) -> _MarketArrays:
    """The markets' arrays made anew from the engine's markets."""
    kept = engine._markets_read
    engine._markets_read = None
    made = engine._market_arrays()
    engine._markets_read = kept
    return made


def test_the_markets_arrays_follow_the_markets_as_enforcement_moves_them() -> None:
    """Kept from hour to hour, the markets' intensities, cells and the enforcers' places
    at them are those the markets have whenever the hour's draw reads them, as markets
    move, appear and (a fast recovery towards no capacity at all) go."""
    overrides = ["run.days=20", "crime.drug_markets.recovery_per_day=0.9"]
    scenario = load_scenario(SCENARIOS / "drug_enforcement.yaml", overrides)
    model = SecurityModel(scenario, seed=3)
    crime = model.crime
    assert crime is not None
    history, update = crime._history_opportunities, crime._update_markets
    kept_hours: list[int] = []  # hours that read last hour's layout of the markets
    enforced_hours: list[int] = []
    gone_days: list[int] = []  # midnights when a market went
    layouts: set[tuple[int, ...]] = set()
    last: list[object] = [None]

    def checked(hour: int, hod: int, ordinary: int) -> object:
        out = history(hour, hod, ordinary)
        arrays, fresh = crime._markets_read, fresh_market_arrays(crime)
        assert arrays is not None  # the markets are read every hour
        np.testing.assert_array_equal(arrays.intensity, fresh.intensity)
        np.testing.assert_array_equal(arrays.flat, fresh.flat)
        np.testing.assert_array_equal(arrays.enforcement, fresh.enforcement)
        if arrays is last[0]:
            kept_hours.append(hour)
        last[0] = arrays
        layouts.add(tuple(m.cell for m in crime._markets))
        return out

    def counted(hour: int) -> None:
        before = [(m.cell, m.intensity) for m in crime._markets]
        update(hour)
        if hour % 24 and before != [(m.cell, m.intensity) for m in crime._markets]:
            enforced_hours.append(hour)
        if hour % 24 == 0 and len(crime._markets) < len(before):
            gone_days.append(hour // 24)

    crime._history_opportunities = checked  # type: ignore[method-assign]
    crime._update_markets = counted  # type: ignore[method-assign]
    model.run_until(24.0 * 12)
    # Most hours read last hour's layout; enforcement changed intensities most hours,
    # moved markets (new layouts) several times, and markets went on several days.
    assert len(kept_hours) > 200 and len(enforced_hours) > 100 and len(layouts) > 5
    assert len(gone_days) > 2


@pytest.mark.parametrize("name", ["drug_enforcement.yaml", "toulouse_metropole.yaml"])
def test_a_displaced_market_draws_its_cell_among_the_neighbours_as_before(name: str) -> None:
    """The neighbours on land, row by row, read from the engine's table: the list the
    grid's bounds and land gave, so the same draw picks the same cell (the real
    territory has cells off land: the river, the communes around)."""
    scenario = load_scenario(SCENARIOS / name, ["run.days=2"])
    model = SecurityModel(scenario, seed=3)
    crime = model.crime
    assert crime is not None
    t = crime._t
    assert (~t.land).any() == (name == "toulouse_metropole.yaml")
    reference = np.random.default_rng(11)
    crime._rng_behind = False
    crime._rng.bit_generator.state = reference.bit_generator.state
    for cell in range(t.n_cells):
        j, i = divmod(cell, t.nx)
        options = [  # as _neighbour listed them
            (j + dj) * t.nx + (i + di)
            for dj in (-1, 0, 1)
            for di in (-1, 0, 1)
            if (di or dj)
            and 0 <= i + di < t.nx
            and 0 <= j + dj < t.ny
            and t.land[(j + dj) * t.nx + (i + di)]
        ]
        want = options[int(reference.integers(len(options)))] if options else cell
        assert crime._neighbour(cell) == want
    assert crime._rng.bit_generator.state == reference.bit_generator.state


def test_the_hours_arguments_made_once_follow_what_changes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``commit_hour`` reads the arguments the engine made once as they are now: the
    residents' settings after a change of them (which does not reconfigure the crime
    engine), the arrests near each cell made again each midnight, the pool's picking,
    the crowd factors of the hour of the week."""
    scenario = load_scenario(SCENARIOS / "baseline.yaml", ["run.days=3"])
    model = SecurityModel(scenario, seed=5)
    crime = model.crime
    assert crime is not None
    calls: list[tuple[float, tuple[object, ...]]] = []
    commit_hour = kernels.commit_hour

    def recorded(*args: object) -> object:
        calls.append((float(args[0]), args))  # type: ignore[arg-type]
        return commit_hour(*args)

    monkeypatch.setattr(kernels, "commit_hour", recorded)
    model.run_until(20.0)
    changed = load_scenario(
        SCENARIOS / "baseline.yaml",
        [
            "run.days=3",
            "citizens.trust_victim_loss=0.5",
            "citizens.fear_victim_gain=0.25",
            "citizens.watch_report_bonus=0.125",
        ],
    )
    model._reconfigure(changed)
    assert crime.spec is scenario.crime  # the engine was not reconfigured
    calls.clear()
    model.run_until(30.0)  # past a midnight
    assert calls and any(hour >= 24.0 for hour, _ in calls)
    pop, pool = model.population, crime.offenders
    for hour, args in calls:
        picking, deciding, guardians, victims = args[12], args[13], args[14], args[16]
        assert victims[7:10] == (0.125, 0.5, 0.25)
        assert victims[2] is pop.trust and victims[5] is pop.fear and args[17] is crime._expected
        if hour >= 24.0:
            assert deciding[8] is crime._arrests_near  # made at midnight
            assert picking is pool.picking
        crowd = guardians[2]  # type: ignore[index]
        np.testing.assert_array_equal(crowd, crime._crowd[int(hour) % 168])
