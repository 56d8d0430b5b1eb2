"""`secsim figures` on a tiny configuration produces every figure, with captions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simulator.cli import main

EXPECTED = [
    "fig1_territory",
    "fig2_response",
    "fig3_offences",
    "fig4_budget_scope",
    "fig5_equity",
    "fig6_sensitivity",
]


def test_figures_tiny(tmp_path: Path) -> None:
    out, store = tmp_path / "figures", tmp_path / "store"
    tiny = [
        "figures",
        "--days",
        "2",
        "--replicates",
        "2",
        "--sobol-samples",
        "4",
        "--out",
        str(out),
        "--store",
        str(store),
    ]
    assert main([*tiny, "--workers", "2"]) == 0
    for name in EXPECTED:
        for ext in ("png", "pdf", "txt"):
            path = out / f"{name}.{ext}"
            assert path.exists() and path.stat().st_size > 0, path
        caption = (out / f"{name}.txt").read_text()
        assert caption.startswith("Figure ") and "Made by: secsim figures" in caption
    assert (out / "fig1_territory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Figure 6 runs replicates per design point and says how much is simulation noise.
    sobol = (out / "fig6_sensitivity.txt").read_text()
    assert "2 replicates per point" in sobol and "Noise shares: " in sobol
    shares = sobol.split("Noise shares: ")[1]  # (indices may be "not estimable" in 2 days)
    assert "95 % interval" in shares and "not estimable" not in shares
    # A second call reuses the stored batches instead of running them again.
    before = sorted(p.stat().st_mtime for p in store.rglob("runs/*.parquet"))
    assert main([*tiny, "--workers", "1"]) == 0
    after = sorted(p.stat().st_mtime for p in store.rglob("runs/*.parquet"))
    assert before == after


def test_the_sensitivity_caption_flags_a_poor_emulator_and_an_estimate_outside_its_interval() -> (
    None
):
    """An estimate outside its interval was flagged "(unreliable)" beside a Q2 of 1.00,
    which the caption defines as below 0.7."""
    from simulator.figures import _q2_phrase

    rows = pd.DataFrame({"emulator_q2": [0.999, 0.5, 0.95, float("nan")]}, index=[*"abcd"])
    indices = pd.DataFrame(
        {
            "output": ["a", "a", "b", "c"],
            "S1": [0.5, 0.2, 0.3, 0.1],
            "S1_low": [0.4, 0.25, 0.1, 0.0],
            "S1_high": [0.6, 0.3, 0.5, 0.2],
            "ST": [0.5, 0.2, 0.3, 0.1],
            "ST_low": [0.4, 0.1, 0.1, 0.0],
            "ST_high": [0.6, 0.3, 0.5, 0.2],
        }
    )
    assert _q2_phrase(rows, indices) == (
        "a 1.00 (1 of its factors' estimates outside their interval); b 0.50 (unreliable); "
        "c 0.95; d not estimable (simulation noise)"
    )
