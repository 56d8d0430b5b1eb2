"""Browse the results store of a batch (``secsim batch --out DIR``) from the dashboard.

A store is a folder holding ``experiment.json`` and ``summaries.parquet``. Its
arms are summarised as ``secsim analyze`` does (mean and 95 % interval over
replicates, paired differences from the reference arm), without writing in the
store: browsing never changes a person's files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simulator.batch.analysis import arm_means, paired_differences
from simulator.batch.runner import runs_table
from simulator.batch.spec import ExperimentSpec

MAX_DEPTH = 3


def find_stores(root: Path) -> list[Path]:
    """Batch stores at or below ``root`` (at most three levels down), sorted."""
    if not root.is_dir():
        return []
    found = []
    for depth in range(MAX_DEPTH + 1):
        for marker in root.glob("/".join(["*"] * depth + ["experiment.json"])):
            if (marker.parent / "summaries.parquet").is_file():
                found.append(marker.parent)
    return sorted(found)


@dataclass(frozen=True)
class StoreView:
    """What a store holds.

    Attributes:
        name: The experiment's name.
        description: Its description.
        reference: The reference arm.
        outputs: Outputs kept by the experiment (summary keys).
        runs: Number of runs stored.
        arms: Mean and interval per arm, design point and output.
        differences: Paired differences from the reference arm.
        figures: PNG files in the store (e.g. written by ``secsim figures``).
    """

    name: str
    description: str
    reference: str
    outputs: tuple[str, ...]
    runs: int
    arms: pd.DataFrame
    differences: pd.DataFrame
    figures: tuple[Path, ...]


def open_store(store: Path) -> StoreView:
    """Read a store's experiment and summaries (read-only)."""
    identity = json.loads((store / "experiment.json").read_text(encoding="utf-8"))
    spec = ExperimentSpec.model_validate(identity["experiment"])
    runs = runs_table(store)
    outputs = [o for o in spec.outputs if o in runs.columns]
    return StoreView(
        name=spec.name,
        description=spec.description or "",
        reference=spec.reference_arm,
        outputs=tuple(outputs),
        runs=len(runs),
        arms=arm_means(runs, outputs),
        differences=paired_differences(runs, outputs, spec.reference_arm),
        figures=tuple(sorted(store.rglob("*.png"))),
    )
