"""Benchmark of one simulation run: speed, throughput and peak memory.

What is measured:

* **Wall time** of ``simulator.run(scenario, seed)`` as seen by the caller
  (``time.perf_counter`` around the call): building the territory and model,
  simulating warm-up + window + drain, and computing the summary and tables.
  Writing result files is *not* included. The simulation-only part
  (``result.metadata["simulation_s"]``) is shown beside it.
* **Throughput**: calls counted in the statistics window
  (``summary["calls"]["total"]``), model events scheduled
  (``summary["events"]``, i.e. ``SecurityModel.n_events``), and from these
  events per second, calls per second and simulated days per wall second.
  Simulated days are warm-up + window days (``run.warmup_days + run.days``):
  that is what the model actually steps through.
* **Peak memory**: the process's peak resident set size
  (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, KiB on Linux) after all timed
  repeats -- it includes the interpreter and imported libraries -- and the
  ``tracemalloc`` peak of Python allocations during one extra, separate run.
  ``tracemalloc`` slows the run down, so that run's wall time is not reported.

The same seed is used for every repeat, so calls and events must be identical
across repeats; the script says so if they are not. Repeats run one after the
other in the same process (the first may pay for warm caches and lazy imports).

Run it from anywhere (paths are relative to the repository root)::

    .venv/bin/python benchmarks/bench_run.py
    .venv/bin/python benchmarks/bench_run.py --scenario scenarios/baseline.yaml \\
        --days 365 --repeat 3 --seed 1 --json bench.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO_ROOT))

from simulator import Scenario, load_scenario, run  # noqa: E402

DEFAULT_SCENARIO = "scenarios/baseline.yaml"


@dataclass(frozen=True)
class Sample:
    """Figures of one timed run.

    Attributes:
        wall_s: Wall time of ``run()`` seen by the caller (seconds).
        simulation_s: Simulation part of it, from the run's metadata (seconds).
        days: Days of the statistics window (``run.days``).
        sim_days: Days simulated: warm-up plus window.
        calls: Calls counted in the window.
        events: Model events scheduled during the run.
        events_per_s: Events per wall second.
        calls_per_s: Calls per wall second.
        sim_days_per_s: Simulated days (warm-up + window) per wall second.
    """

    wall_s: float
    simulation_s: float
    days: int
    sim_days: int
    calls: int
    events: int
    events_per_s: float
    calls_per_s: float
    sim_days_per_s: float


def resolve(path: str) -> Path:
    """A path as given if absolute, else relative to the repository root.

    Args:
        path: File path from the command line.

    Returns:
        The absolute path.
    """
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    name = platform.processor()
    if name and name not in {"x86_64", "aarch64", "arm64", "i386"}:
        return name
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name or platform.machine() or "unknown"


def _total_memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2  # kB -> GiB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _maxrss_kib() -> int:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib // 1024 if sys.platform == "darwin" else kib  # bytes on macOS


def machine_info() -> dict[str, Any]:
    """Describe the machine and software the benchmark ran on.

    Returns:
        Platform, Python, CPU model and count, total memory, numpy and mesa versions.
    """
    mem = _total_memory_gib()
    return {
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_total_gib": round(mem, 2) if mem is not None else None,
        "numpy": _version("numpy"),
        "mesa": _version("mesa"),
        "secsim": _version("secsim"),
    }


def timed_run(scenario: Scenario, seed: int) -> Sample:
    """Run the scenario once and collect its figures.

    Args:
        scenario: The checked scenario.
        seed: Seed of the run.

    Returns:
        The run's timings and throughput.
    """
    gc.collect()
    started = time.perf_counter()
    result = run(scenario, seed=seed)
    wall = time.perf_counter() - started
    days = int(scenario.run.days)
    sim_days = days + int(scenario.run.warmup_days)
    calls = int(result.summary["calls"]["total"])
    events = int(result.summary["events"])
    return Sample(
        wall_s=wall,
        simulation_s=float(result.metadata["simulation_s"]),
        days=days,
        sim_days=sim_days,
        calls=calls,
        events=events,
        events_per_s=events / wall,
        calls_per_s=calls / wall,
        sim_days_per_s=sim_days / wall,
    )


def median_sample(samples: list[Sample]) -> Sample:
    """Field-wise median of several samples.

    Args:
        samples: At least one sample.

    Returns:
        A sample whose every field is the median of that field.
    """
    rows = [asdict(s) for s in samples]
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    for k in ("days", "sim_days", "calls", "events"):
        med[k] = int(med[k])
    return Sample(**med)


def tracemalloc_peak(scenario: Scenario, seed: int) -> int:
    """Peak of Python allocations (bytes) during one extra run, under tracemalloc.

    Args:
        scenario: The checked scenario.
        seed: Seed of the run.

    Returns:
        The tracemalloc peak in bytes.
    """
    gc.collect()
    tracemalloc.start()
    try:
        run(scenario, seed=seed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def format_table(labels: list[str], samples: list[Sample]) -> str:
    """Plain-text table, one row per sample.

    Args:
        labels: Row labels (same length as ``samples``).
        samples: The figures.

    Returns:
        The table as text.
    """
    header = (
        "run", "wall s", "sim s", "days", "sim days", "calls", "events",
        "events/s", "calls/s", "sim days/s",
    )  # fmt: skip
    rows = [header]
    for label, s in zip(labels, samples, strict=True):
        rows.append(
            (
                label,
                f"{s.wall_s:.2f}",
                f"{s.simulation_s:.2f}",
                f"{s.days:d}",
                f"{s.sim_days:d}",
                f"{s.calls:,d}",
                f"{s.events:,d}",
                f"{s.events_per_s:,.0f}",
                f"{s.calls_per_s:,.0f}",
                f"{s.sim_days_per_s:.1f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for n, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line.

    Args:
        argv: Arguments (``sys.argv[1:]`` if omitted).

    Returns:
        The parsed options.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--scenario", default=DEFAULT_SCENARIO, help="YAML file, relative to the repository root"
    )
    parser.add_argument("--days", type=int, default=365, help="run.days override (default 365)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every run (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally save) its figures.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` if omitted).

    Returns:
        The exit status.
    """
    args = parse_args(argv)
    path = resolve(args.scenario)
    scenario = load_scenario(path, [f"run.days={args.days}"])
    machine = machine_info()

    print("secsim benchmark: simulator.run()")
    width = max(len(k) for k in machine)
    for key, value in machine.items():
        print(f"  {key.ljust(width)}  {value}")
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    print(
        f"  {'scenario'.ljust(width)}  {shown}"
        f" ({scenario.name}), days={scenario.run.days}, warmup_days={scenario.run.warmup_days},"
        f" seed={args.seed}, repeat={args.repeat}"
    )
    print(flush=True)

    rss_before_kib = _maxrss_kib()  # interpreter, libraries and the loaded scenario
    samples: list[Sample] = []
    for i in range(args.repeat):
        sample = timed_run(scenario, args.seed)
        samples.append(sample)
        print(f"  run {i + 1}/{args.repeat}: {sample.wall_s:.2f} s", file=sys.stderr, flush=True)
    median = median_sample(samples)
    maxrss_kib = _maxrss_kib()
    print("  extra run under tracemalloc ...", file=sys.stderr, flush=True)
    traced_peak = tracemalloc_peak(scenario, args.seed)

    labels = [f"#{i + 1}" for i in range(len(samples))] + ["median"]
    print(format_table(labels, [*samples, median]))
    print()
    print(f"peak RSS (ru_maxrss, after the timed runs): {maxrss_kib / 1024:,.1f} MiB")
    print(f"  of which before the first run (imports):  {rss_before_kib / 1024:,.1f} MiB")
    print(f"tracemalloc peak (one extra run, not timed): {traced_peak / 1024**2:,.1f} MiB")
    consistent = len({(s.calls, s.events) for s in samples}) == 1
    if not consistent:
        print("WARNING: calls or events differ between repeats with the same seed")
    print(
        "wall s: run() as seen by the caller; sim s: its simulation part; "
        "rates are per wall second; sim days = warm-up + window days."
    )

    if args.json:
        out = Path(args.json)
        payload = {
            "machine": machine,
            "scenario": {
                "path": str(path),
                "name": scenario.name,
                "days": scenario.run.days,
                "warmup_days": scenario.run.warmup_days,
            },
            "seed": args.seed,
            "repeat": args.repeat,
            "runs": [asdict(s) for s in samples],
            "median": asdict(median),
            "deterministic": consistent,
            "memory": {
                "peak_rss_kib": int(maxrss_kib),
                "peak_rss_before_runs_kib": int(rss_before_kib),
                "tracemalloc_peak_bytes": int(traced_peak),
            },
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
