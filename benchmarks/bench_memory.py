"""Measure the memory a run needs per territory cell and per resident.

``simulator.resources`` refuses a scenario whose territory and population would
not fit in memory, from ``cells x bytes per cell + residents x bytes per
resident``. This script measures those two figures: each configuration (the
baseline scenario with its cell size and residents changed) is built and run for
two days in a fresh process, which reports its peak resident memory (``VmHWM``,
Linux) and the same after importing only. A least-squares fit of the growth over
the import baseline gives the bytes per cell and per resident.

Run it from the repository root::

    .venv/bin/python benchmarks/bench_memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) * 1024
from simulator.scenario import load_scenario
from simulator.runner import run
cell_m, factor = float(sys.argv[1]), float(sys.argv[2])
base = load_scenario('scenarios/baseline.yaml')
sets = ['run.days=2', 'run.warmup_days=0', f'territory.cell_m={cell_m}']
for i, c in enumerate(base.territory.communes):
    sets.append(f'territory.communes.{i}.residents={round(c.residents * factor)}')
scenario = load_scenario('scenarios/baseline.yaml', sets)
before = hwm()
n = max(4, round(scenario.territory.extent_km * 1000 / cell_m)) ** 2
residents = sum(c.residents for c in scenario.territory.communes)
run(scenario, seed=1)
print(json.dumps({'cells': n, 'residents': residents, 'before': before, 'peak': hwm()}))
"""


def measure(cell_m: float, factor: float) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(cell_m), str(factor)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    rows = [
        measure(cell_m, factor) for cell_m in (200.0, 100.0, 50.0) for factor in (1.0, 4.0, 10.0)
    ]
    for r in rows:
        print(
            f"cells {r['cells']:>8,}  residents {r['residents']:>9,}  "
            f"after imports {r['before'] / 2**20:7.1f} MiB  peak {r['peak'] / 2**20:7.1f} MiB"
        )
    x = np.array([[r["cells"], r["residents"]] for r in rows], dtype=float)
    y = np.array([r["peak"] - r["before"] for r in rows], dtype=float)
    design = np.column_stack([x, np.ones(len(rows))])
    (per_cell, per_resident, fixed), *_ = np.linalg.lstsq(design, y, rcond=None)
    print(
        f"fit: {per_cell:,.0f} bytes per cell, {per_resident:,.0f} bytes per resident, "
        f"{fixed / 2**20:,.1f} MiB fixed over the imports"
    )


if __name__ == "__main__":
    main()
