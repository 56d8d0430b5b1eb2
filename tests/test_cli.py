"""The command line: outputs, summary keys, and clean errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from simulator.cli import main

from .conftest import ROOT, SCENARIOS

BASELINE = SCENARIOS / "baseline.yaml"
INCIDENT_COLUMNS = [
    "incident_id",
    "kind",
    "type",
    "priority",
    "cell",
    "district",
    "commune",
    "x_m",
    "y_m",
    "t_occurred_h",
    "t_reported_h",
    "t_dispatched_h",
    "t_arrived_h",
    "t_cleared_h",
    "agency",
    "unit",
    "outcome",
]


def _get(d: dict, dotted: str) -> object:
    for key in dotted.split("."):
        d = d[key]
    return d


def test_run_writes_every_output_with_the_promised_keys(tmp_path: Path) -> None:
    out = tmp_path / "base"
    assert (
        main(
            [
                "run",
                str(BASELINE),
                "--days",
                "4",
                "--warmup-days",
                "1",
                "--seed",
                "3",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "baseline" and summary["seed"] == 3 and summary["days"] == 4
    for key in [
        "calls.total",
        "calls.answered",
        "calls.unanswered",
        "wait_min.mean",
        "wait_min.p50",
        "wait_min.p90",
        "response_min.mean",
        "response_min.p50",
        "response_min.p90",
        "cost_eur.state",
        "cost_eur.commune",
        "cost_eur.private",
        "runtime_s",
    ]:
        assert _get(summary, key) is not None, key
    for p in ("1", "2", "3"):
        assert _get(summary, f"wait_min.by_priority.{p}.mean") is not None
        assert _get(summary, f"response_min.by_priority.{p}.p90") is not None
    for agency in ("state_police", "pm_centre", "securite_privee"):
        assert agency in summary["utilisation"]
        assert agency in summary["cost_eur"]["by_agency"]
    assert "state_police" in summary["response_min"]["by_agency"]
    # The same summary as one row of dotted columns (a batch's summaries.parquet has these).
    row = pq.read_table(out / "summary.parquet").to_pylist()
    assert len(row) == 1
    assert row[0]["response_min.by_priority.1.p90"] == _get(
        summary, "response_min.by_priority.1.p90"
    )
    assert row[0]["response_min.ci95.low"] == summary["response_min"]["ci95"][0]
    assert (
        row[0]["cost_eur.by_agency.state_police"]
        == summary["cost_eur"]["by_agency"]["state_police"]
    )
    assert pq.read_schema(out / "incidents.parquet").names[: len(INCIDENT_COLUMNS)] == (
        INCIDENT_COLUMNS
    )
    series = pq.read_table(out / "timeseries.parquet").to_pandas()
    assert list(series["day"]) == [1, 2, 3, 4]
    districts = pq.read_table(out / "districts.parquet").to_pandas()
    assert districts["calls"].sum() == summary["calls"]["total"]
    assert {"qpv", "city_centre", "peri_urban"} <= set(districts["type"])
    agencies = pq.read_table(out / "agencies.parquet").to_pandas().set_index("agency")
    assert agencies["calls_dispatched"].sum() == summary["calls"]["answered"]
    assert agencies.loc["pm_centre", "level"] == "commune"
    for name, share in summary["utilisation"].items():
        assert agencies.loc[name, "utilisation"] == pytest.approx(share)
    for name, cost in agencies["cost_eur"].items():
        assert summary["cost_eur"]["by_agency"][name] == pytest.approx(cost)
    everything = summary["cost_eur"]["by_agency"].values()
    levels = ("state", "commune", "private")
    assert sum(everything) == pytest.approx(sum(summary["cost_eur"][k] for k in levels))
    meta = json.loads((out / "run.json").read_text())
    assert meta["seed"] == 3 and meta["scenario"]["run"]["days"] == 4
    assert "git_commit" in meta["code"] and meta["wall_time_s"] > 0


def test_set_overrides_reach_the_model(tmp_path: Path) -> None:
    out = tmp_path / "mmc"
    assert (
        main(
            [
                "run",
                str(SCENARIOS / "validation" / "mmc.yaml"),
                "--days",
                "2",
                "--quiet",
                "--out",
                str(out),
                "--set",
                "demand.priority_shares=[0.4,0.6]",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["wait_min"]["by_priority"]) == {"1", "2"}
    meta = json.loads((out / "run.json").read_text())
    assert meta["scenario"]["demand"]["priority_shares"] == [0.4, 0.6]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "agencies:\n  state_police:\n    kind: state_police\n    unitz: 3\n",
            ["bad.yaml:4:5", "agencies.state_police.unitz", "did you mean 'units'"],
        ),
        (
            "demand:\n  rate_per_hour: -2\n",
            ["bad.yaml:2:3", "demand.rate_per_hour", "greater than or equal to 0", "found -2"],
        ),
        ("demand: [1, 2\n", ["bad.yaml:", "malformed YAML"]),
        (
            "agencies:\n  sp:\n    kind: state_polise\n    units: 1\n",
            ["bad.yaml:3:5", "agencies.sp.kind", "state_police"],
        ),
        (
            "competences:\n  call: [state_polise]\n",
            ["bad.yaml:2:10", "competences.call.0", "did you mean 'state_police'"],
        ),
        (
            "agencies:\n  state_police:\n    kind: state_police\n    units: 2\n"
            "    budget_eur: 1000\n",
            ["bad.yaml:2:3", "exactly one of units, officers or budget_eur"],
        ),
    ],
)
def test_bad_scenarios_give_a_located_message_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: list[str]
) -> None:
    base = (SCENARIOS / "validation" / "mmc.yaml").read_text()
    # Put the faulty block last: its lines are counted from the end of the base.
    bad = tmp_path / "bad.yaml"
    header = "\n".join(line for line in base.splitlines() if not line.startswith("#"))
    first_key = text.split(":", 1)[0]
    kept = _drop_top_level(header, first_key)
    bad.write_text(text + kept + "\n")
    out = tmp_path / "out"
    assert main(["run", str(bad), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for fragment in expected:
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err
    assert not out.exists()


def _drop_top_level(text: str, key: str) -> str:
    """Remove a top-level block from a YAML text (so the test's block replaces it)."""
    lines, keep, skipping = text.splitlines(), [], False
    for line in lines:
        if line and not line[0].isspace():
            skipping = line.startswith(f"{key}:")
        if not skipping:
            keep.append(line)
    return "\n" + "\n".join(keep)


def test_validate_reports_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nagencies: {}\n")
    assert main(["validate", str(BASELINE), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "baseline.yaml: ok" in captured.out
    assert "bad.yaml" in captured.err and "competences" in captured.err


def test_missing_file_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "no/such/file.yaml"]) == 2
    assert "cannot read file" in capsys.readouterr().err


def test_python_dash_m_and_help_work() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0
    for option in ("--seed", "--days", "--warmup-days", "--out", "--set", "--quiet"):
        assert option in done.stdout


def test_a_territory_that_cannot_be_laid_out_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    communes = ", ".join(
        f"{{name: s{i}, role: suburb, residents: 100, districts: 1}}" for i in range(30)
    )
    path = tmp_path / "tiny_land.yaml"
    path.write_text(
        f"extends: {BASELINE}\nterritory:\n  extent_km: 1\n  communes: "
        f"[{{name: centre, role: central, residents: 1000, districts: 1}}, {communes}]\n"
        "agencies:\n  pm_nord: {communes: [s1]}\n  pm_est: {communes: [s2]}\n",
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == 2
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "territory: commune" in err and "got no cells" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
