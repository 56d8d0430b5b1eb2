"""Fingerprints of a run's outputs, to check that a change left them identical.

A change meant to make the code faster must leave every output as it was, to the
bit. Run this on the code before and after the change (two checkouts, for
instance the older one in a ``git worktree``), on the same machine, and compare
the lines::

    python benchmarks/fingerprint.py scenarios/baseline.yaml --days 30
    cd ../old && python /path/to/benchmarks/fingerprint.py scenarios/baseline.yaml --days 30

Each line names the scenario, the days, the seed and the number of incidents,
then a hash of each output: the incident table, the daily time series, the
district and agency tables, and the summary without its run times. The code run
is the checkout the command is started from (its ``simulator`` folder comes
first on the path), whatever is installed. The last bits of some doubles may
differ between processors (NumPy picks SIMD code by the processor), so compare
fingerprints taken on one machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _without_run_times(value: Any) -> Any:
    """The summary's values, less those that measure the run's own time."""
    if isinstance(value, dict):
        return {k: _without_run_times(v) for k, v in value.items() if k != "runtime_s"}
    if isinstance(value, list):
        return [_without_run_times(v) for v in value]
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="+", type=Path, help="scenario files")
    parser.add_argument("--days", type=int, default=None, help="days of the window")
    parser.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path.cwd()))  # this checkout's code, not an installed one
    import simulator
    from simulator import load_scenario, run

    print(f"# code: {Path(simulator.__file__).parent}", flush=True)
    for path in args.scenario:
        overrides = [] if args.days is None else [f"run.days={args.days}"]
        scenario = load_scenario(path, overrides)
        result = run(scenario, args.seed)
        summary = json.dumps(
            _without_run_times(result.summary.as_json()), sort_keys=True, default=str
        )
        hashes = {
            "incidents": _hash(result.incidents.to_pandas().to_csv(index=False)),
            "timeseries": _hash(result.timeseries.to_csv(index=False)),
            "districts": _hash(result.districts.to_csv(index=False)),
            "agencies": _hash(result.agencies.to_csv(index=False)),
            "summary": _hash(summary),
        }
        fields = " ".join(f"{k}={v}" for k, v in hashes.items())
        print(
            f"{path} {scenario.run.days} {args.seed} {result.incidents.num_rows} {fields}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
