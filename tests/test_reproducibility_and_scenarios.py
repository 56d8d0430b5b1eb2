"""Every shipped scenario loads and runs; the same seed gives the same bytes."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from simulator import load_scenario, run, write_results

from .conftest import SCENARIOS

ALL_SCENARIOS = sorted(SCENARIOS.rglob("*.yaml"))


def test_there_are_scenarios() -> None:
    assert SCENARIOS / "baseline.yaml" in ALL_SCENARIOS
    assert SCENARIOS / "validation" / "mmc.yaml" in ALL_SCENARIOS


@pytest.mark.parametrize("path", ALL_SCENARIOS, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_scenario_validates_and_runs_a_short_horizon(path: Path, tmp_path: Path) -> None:
    # A short horizon, long enough for every timeline change to take effect.
    raw = load_scenario(path)
    last = max((e.effective_day for e in raw.timeline), default=0.0)
    days = max(3, math.ceil(last))
    scenario = load_scenario(path, [f"run.days={days}", "run.warmup_days=1"])
    result = run(scenario)
    assert len(result.metadata["policy_changes"]) == len(scenario.timeline)
    assert result.summary.calls.total > 0
    assert result.summary.calls.answered > 0
    written = write_results(result, tmp_path / "out")
    names = sorted(p.name for p in written.iterdir())
    assert names == [
        ".secsim",
        "agencies.parquet",
        "districts.parquet",
        "incidents.parquet",
        "run.json",
        "summary.json",
        "summary.parquet",
        "timeseries.parquet",
    ]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_scenario_and_seed_give_identical_files(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "baseline.yaml", ["run.days=5", "run.warmup_days=1"])
    a = write_results(run(scenario, 42), tmp_path / "a")
    b = write_results(run(scenario, 42), tmp_path / "b")
    for name in ("incidents.parquet", "timeseries.parquet", "districts.parquet"):
        assert _digest(a / name) == _digest(b / name), name
    c = write_results(run(scenario, 43), tmp_path / "c")
    assert _digest(a / "incidents.parquet") != _digest(c / "incidents.parquet")


def test_policy_arms_share_their_calls() -> None:
    """Common random numbers: changing staffing leaves the calls themselves unchanged."""
    base = load_scenario(SCENARIOS / "baseline.yaml", ["run.days=3"])
    more = load_scenario(
        SCENARIOS / "baseline.yaml", ["run.days=3", "agencies.state_police.budget_eur=30000000"]
    )
    cols = ["type", "priority", "cell", "x_m", "y_m", "t_reported_h"]
    ran_a, ran_b = run(base, 5), run(more, 5)
    a, b = ran_a.incidents.to_pandas(), ran_b.incidents.to_pandas()
    # The arms differ: more State officers, and crews sent otherwise.
    officers = [r.summary.as_json()["officers"]["state_police"] for r in (ran_a, ran_b)]
    assert officers[1] > officers[0]
    assert not a["unit"].equals(b["unit"])
    a, b = a[a["kind"] == "call"][cols], b[b["kind"] == "call"][cols]
    assert a.reset_index(drop=True).equals(b.reset_index(drop=True))
