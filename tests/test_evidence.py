"""`secsim evidence`: the published designs, their places, the report and bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.batch.effects import Interval
from simulator.batch.evidence_spec import TargetRange
from simulator.cli import main
from simulator.evidence import (
    DOC_MARKER,
    EstimateResult,
    Places,
    knox_ratios,
    load_design,
)

from .conftest import ROOT

EVIDENCE = ROOT / "experiments" / "evidence"


def test_every_shipped_design_loads_and_names_a_source_and_a_target() -> None:
    files = sorted(EVIDENCE.glob("*.yaml"))
    assert {f.stem for f in files} >= {"police_numbers", "hot_spots", "dwell_time", "untuned"}
    for path in files:
        design = load_design(path)
        assert design.evidence.source
        header = path.read_text(encoding="utf-8").split("\nname:")[0]
        assert header.startswith("#") and ("(19" in header or "(20" in header), path
        if design.evidence.tuned:
            assert any(e.target is not None for e in design.evidence.estimates.values()), path


def test_hot_spots_are_the_cells_the_strategy_patrols_and_the_ring_surrounds_them() -> None:
    design = load_design(EVIDENCE / "hot_spots.yaml")
    places = Places(design, design.spec)
    hot = places.cells("hot_spots")
    model = places.model("hot_spots")
    t = model.territory
    # The hotspot strategy: the 5 % of the State police's cells with most expected
    # assaults (the squad's hotspot_offences, as the baseline's State police).
    assert hot.sum() == round(0.05 * t.land.sum())
    assert model.crime is not None
    weights = model.crime.expected_opportunities(["assault"])
    assert weights[hot].min() >= weights[~hot & t.land].max()
    ring = places.cells("ring")
    assert ring.any() and not (ring & hot).any()
    hy, hx = np.divmod(np.flatnonzero(hot), t.nx)
    for cell in np.flatnonzero(ring)[::17]:
        y, x = divmod(int(cell), t.nx)
        gap = np.maximum(np.abs(hx - x), np.abs(hy - y)).min()
        assert 1 <= gap <= 2, (cell, gap)
    # Every cell next to a hot spot and not one is in the ring.
    y, x = hy[0], hx[0]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            c = (y + dy) * t.nx + x + dx
            if 0 <= y + dy < t.ny and 0 <= x + dx < t.nx and not hot[c]:
                assert ring[c]
    # The control arm patrols at random: the same cells come from the treated arm.
    assert design.evidence.places["hot_spots"].arm == "hot_spots"


def test_sites_and_cameras_are_places() -> None:
    design = load_design(EVIDENCE / "untuned.yaml")
    places = Places(design, design.spec)
    assert 30 < places.cells("sites_80").sum() <= 80
    assert 0 < places.cells("cctv").sum() < places.model("baseline").territory.n_cells


def test_knox_ratio_finds_planted_near_repeats_and_not_chance_ones() -> None:
    rng = np.random.default_rng(3)
    nx, n = 60, 400
    cells = rng.integers(0, nx * nx, n)
    times = rng.uniform(0, 365 * 24, n)
    bands = [0, 7, 30, 120]
    chance = knox_ratios(cells, times, nx, bands, seed=1)
    assert all(0.6 < r < 1.4 for r in chance), chance
    # Each of 150 offences followed by another next door within three days.
    parents = rng.integers(0, n, 150)
    near = cells[parents] + rng.integers(-1, 2, 150)  # a neighbour in the same row
    later = times[parents] + rng.uniform(0, 72, 150)
    planted = knox_ratios(
        np.concatenate([cells, near]), np.concatenate([times, later]), nx, bands, seed=1
    )
    assert planted[0] > 2 * planted[2], planted


def test_verdicts() -> None:
    target = TargetRange(low=-0.6, high=-0.15)

    def verdict(value: float, low: float, high: float) -> str:
        return EstimateResult("d", "e", "l", Interval(value, low, high, 5), target, "").verdict

    assert verdict(-0.3, -0.5, -0.1) == "in range"
    assert verdict(0.0, -0.1, 0.1) == "out of range"
    assert verdict(-0.3, -math.inf, math.inf) == "not estimable"
    assert verdict(math.nan, math.nan, math.nan) == "not estimable"
    inside = EstimateResult("d", "e", "l", Interval(-0.3, -0.4, -0.2, 5), target, "")
    assert inside.interval_inside
    assert TargetRange(high=0).holds(-1) and not TargetRange(low=0).holds(-1)


QUICK_FILES = [str(EVIDENCE / "police_numbers.yaml"), str(EVIDENCE / "hot_spots.yaml")]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path, Path]:
    """`secsim evidence --quick` on police numbers and hot spots, once for the module."""
    tmp_path = tmp_path_factory.mktemp("evidence_quick")
    out, doc = tmp_path / "evidence", tmp_path / "docs" / "evidence.md"
    args = ["evidence", *QUICK_FILES, "--quick", "--out", str(out), "--doc", str(doc), "--quiet"]
    assert main([*args, "--workers", "2"]) == 0
    return args, out, doc


def test_quick_mode_end_to_end(quick_run: tuple[list[str], Path, Path]) -> None:
    args, out, doc = quick_run
    text = doc.read_text(encoding="utf-8")
    assert text.startswith(DOC_MARKER)
    assert "quick mode" in text and "at commit" in text
    for title in ("Police numbers", "Hot-spot policing", "Weighted displacement quotient"):
        assert title in text
    estimates = pd.read_csv(out / "estimates.csv")
    assert set(estimates["design"]) == {"police_numbers", "hot_spots"}
    by_name = estimates.set_index("estimate")
    elasticity = by_name.loc["total_30"]
    assert elasticity["ci_low"] <= elasticity["value"] <= elasticity["ci_high"]
    assert (elasticity["target_low"], elasticity["target_high"]) == (-0.6, -0.15)
    # The model meets the evidence on police numbers even at this size (intervals clear
    # of 0 and meeting the published ranges); hot-spot patrol lowers crime there, and the
    # ring around the hot spots gains from diffusion at least as much as displacement
    # costs it. (Violent crime more elastic than property crime: below.)
    for name in ("total_10", "total_30", "total_minus_30", "target_change"):
        row = by_name.loc[name]
        assert row["ci_high"] < 0, (name, row["ci_high"])
    for name in ("total_10", "total_30", "total_minus_30"):
        row = by_name.loc[name]
        assert row["ci_low"] <= row["target_high"] and row["ci_high"] >= row["target_low"], name
    assert by_name.loc["wdq", "value"] >= 0
    # Arms share their random numbers: pairing narrows the interval of a difference
    # (independent arms give a ratio of about 1; 6 short replicates estimate it loosely,
    # and the full run gives 0.19 and 0.26 on the calibrated baseline).
    assert by_name.loc["pairing_plus_30", "value"] < 0.75
    assert by_name.loc["pairing_minus_30", "value"] < 0.75
    # --check says whether every target is met; the runs are reused, not run again.
    runs = sorted(p.stat().st_mtime for p in out.rglob("runs/*.parquet"))
    missed = estimates["verdict"].isin(["out of range", "not estimable"]).any()
    assert main([*args, "--check"]) == (1 if missed else 0)
    assert sorted(p.stat().st_mtime for p in out.rglob("runs/*.parquet")) == runs


@pytest.mark.xfail(
    strict=True,
    reason="known miss, at the range's edge: one directed crew on the State police's hot "
    "spots of assaults cuts hot-spot crime by 16.6 % (15.7 to 17.5) in the full run and "
    "18 % in the quick one, for 8 to 16 % (docs/calibration.md section 4.7: area_weight "
    "218, calibrated with the duties, is strong for the design's dose); when a calibration "
    "brings the estimate into range, remove this mark",
)
def test_the_hot_spot_effect_meets_the_published_range(
    quick_run: tuple[list[str], Path, Path],
) -> None:
    """The estimate itself in the range, as the report's verdict reads it."""
    _, out, _ = quick_run
    row = pd.read_csv(out / "estimates.csv").set_index("estimate").loc["target_change"]
    assert row["target_low"] <= row["value"] <= row["target_high"]


def test_violent_offences_are_more_elastic_than_property_offences(
    quick_run: tuple[list[str], Path, Path],
) -> None:
    """Chalfin and McCrary's sign: violent offences fall more with more police.

    A known miss from the QPV weights (section 3.4 of docs/calibration.md) until the
    State police patrolled hot spots of assaults (section 4.7): the difference's 95 %
    interval lies below 0 (the quick run: -0.13, -0.20 to -0.06; the full run -0.08).
    """
    _, out, _ = quick_run
    row = pd.read_csv(out / "estimates.csv").set_index("estimate").loc["violent_minus_property"]
    assert row["ci_high"] < 0, row.to_dict()


def test_bad_input_is_refused_with_a_located_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, doc = tmp_path / "out", tmp_path / "evidence.md"
    tail = ["--out", str(out), "--doc", str(doc), "--quiet"]
    # An experiment without an evidence block.
    assert main(["evidence", str(ROOT / "experiments" / "policy_arms.yaml"), *tail]) == 2
    assert "no evidence: block" in capsys.readouterr().err
    # A group naming an offence type the scenario does not have, and an unknown arm.
    bad = tmp_path / "bad.yaml"
    text = (EVIDENCE / "police_numbers.yaml").read_text(encoding="utf-8")
    text = text.replace("violent: [assault, serious_violence]", "violent: [assault, murder]")
    text = text.replace("arm: officers_plus_10", "arm: officers_plus_11")
    # A dose naming an agency no arm has: checked by name, as an experiment's outputs are.
    assert text.count("dose: officers.state_police") > 1
    text = text.replace("dose: officers.state_police", "dose: officers.state_polce", 1)
    bad.write_text(text.replace("../../scenarios/", str(ROOT / "scenarios") + "/"))
    assert main(["evidence", str(bad), *tail]) == 2
    err = capsys.readouterr().err
    assert "'murder' is not an offence type" in err and "evidence.groups.violent" in err
    assert "unknown arm 'officers_plus_11'" in err
    assert "'officers.state_polce' is not a value of a run's summary" in err
    assert "did you mean 'officers.state_police'" in err
    dose_line = text.split("\n").index(next(x for x in text.split("\n") if "state_polce" in x))
    assert f"bad.yaml:{dose_line + 1}:" in err and "total_10.dose:" in err
    line = text.split("\n").index(next(x for x in text.split("\n") if "murder" in x)) + 1
    assert f"bad.yaml:{line}" in err
    # secsim validate checks the same names.
    assert main(["validate", str(bad)]) == 2
    assert "'murder' is not an offence type" in capsys.readouterr().err
    # A design: evidence compares arms, a design's points would each be a comparison.
    designed = tmp_path / "designed.yaml"
    designed.write_text(
        (EVIDENCE / "police_numbers.yaml")
        .read_text(encoding="utf-8")
        .replace("../../scenarios/", str(ROOT / "scenarios") + "/")
        + "design:\n  kind: list\n  factors:\n    citizens.trust_mean: {values: [0.4, 0.6]}\n",
        encoding="utf-8",
    )
    assert main(["evidence", str(designed), *tail]) == 2
    assert "an evidence experiment compares arms: it takes no design" in capsys.readouterr().err
    # A missing file, and both modes at once.
    assert main(["evidence", str(tmp_path / "missing.yaml"), *tail]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["evidence", "--quick", "--full", *tail])
    assert exit_info.value.code == 2
    assert not out.exists() and not doc.exists()


def test_a_report_path_secsim_did_not_write_is_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text("my notes\n")
    args = ["evidence", str(EVIDENCE / "police_numbers.yaml"), "--quiet"]
    assert main([*args, "--out", str(tmp_path / "out"), "--doc", str(doc)]) == 2
    assert "not written by secsim evidence" in capsys.readouterr().err
    assert doc.read_text() == "my notes\n"
    assert not (tmp_path / "out").exists()


def test_a_place_of_an_unknown_arm_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A place's arm misspelt, with an agency to look up in it: a KeyError before."""
    text = (EVIDENCE / "hot_spots.yaml").read_text(encoding="utf-8")
    assert "agency: squad, arm: hot_spots}" in text
    text = text.replace("agency: squad, arm: hot_spots}", "agency: squad, arm: hot_spotz}")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("../../scenarios/", str(ROOT / "scenarios") + "/"))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "evidence.places.hot_spots.arm: unknown arm 'hot_spotz'" in err
    assert "Traceback" not in err
