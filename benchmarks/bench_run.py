"""Benchmark of one simulation run: speed, throughput and peak memory.

What is measured:

* **Wall time** of ``simulator.run(scenario, seed)`` as seen by the caller
  (``time.perf_counter`` around the call): building the territory and model,
  simulating warm-up + window + drain, and computing the summary and tables.
  Writing result files is *not* included. The simulation-only part
  (``result.metadata["simulation_s"]``) is shown beside it.
* **Size and throughput**: residents (``summary["residents"]``), cells of the
  territory, calls counted in the statistics window (``summary["calls"]["total"]``:
  calls for service and offences that need a unit), offences that happened in
  the window (``summary["offences"]["actual"]``, recorded or not), model events
  scheduled (``summary["events"]``, i.e. ``SecurityModel.n_events``), and from
  these events, calls and offences per wall second, simulated days per wall
  second and residents x simulated hours per wall second. Simulated days are
  warm-up + window days (``run.warmup_days + run.days``), that is what the model
  steps through (the drain after the window is not counted); simulated hours are
  24 times that. Offences and calls are those of the window only.
* **Peak memory, one fresh process per run**: every timed run (and the
  tracemalloc run) happens in its own child process, a new interpreter
  (``sys.executable`` running this script in a child mode), so that one scenario's (or one
  repeat's) peak cannot hide another's. The child reports
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on Linux) measured *inside
  the child* after its run, plus ``VmHWM`` from ``/proc/self/status`` (Linux).
  Both include the interpreter and imported libraries; the child's ru_maxrss
  before the run (imports and scenario loaded) is shown too.
  Caveat (Linux): the child is started by fork + exec and the kernel carries
  the parent's high-water mark over the exec, so the child's ru_maxrss is
  ``max(parent's peak at start time, child's own peak)``. The parent therefore
  imports nothing heavy (not even ``simulator``) and its own ru_maxrss is
  printed; ``VmHWM`` belongs to the child's own address space only and is not
  affected. The ``tracemalloc`` peak of Python allocations comes from one extra
  run in its own child; tracemalloc slows the run down, so its wall time is not
  reported.

The same seed is used for every repeat, so calls, offences and events must be
identical across repeats; the script says so if they are not. Repeats run one
after the other, one child at a time (one core busy).

``--scaling`` runs the territory of ``scenarios/metropole_1500k.yaml`` (same
extent, same cells) with the residents of every commune scaled by one factor so
that the total is 50,000, 150,000, 500,000 and 1,500,000 residents, each for
``--days`` days (one year by default). The non-crime call rate
(``demand.rate_per_hour``) and the size of every agency (budget, officers,
units, sites) are scaled in proportion; everything else stays as in the file.
Offence rates are per 1,000 residents, so offences scale with residents.

``--reference COMMIT`` runs every scenario on the code of an older commit too,
side by side: the commit's files are extracted with ``git archive`` into a
temporary folder (removed afterwards; the working tree and the repository's
state are not touched), and each timed run alternates between the two codes,
one fresh child process each, with the same Python and libraries. Each child
checks that ``simulator`` was imported from the tree it was meant to run. The
reference runs the same scenario file less the settings its code does not know
(:data:`NEWER_SETTINGS`: non-call duties and pre-emption, added by issue 14, the
offenders' settings of each offence type, added by issue 9, a type's own weights
by district type, and hot spots by offence types),
written to its temporary folder; the script prints which it left out, and the
work they add counts against the current code. The
ratio printed is the reference's median wall time over the current one's, and beside
it the median of the pairs' ratios (a pair: the two codes' runs of one repeat, one
after the other), the steadier figure when the machine's speed drifts.
``--same-settings`` also runs the current code on the reference's copy, the same
file for both, and prints that ratio too (the older code still does less per
offence where it lacks a mechanism, such as issue 9's offenders).

``--batch`` times ``secsim batch``'s engine (``run_batch``) on 8 runs of
``scenarios/baseline.yaml`` (one year each) with 1 worker and with 2 workers,
each in a fresh child process, ``--repeat`` pairs in alternating order, and
prints each pair's speed-up, their median and range, the CPU seconds of each
batch and the share of the cores other processes used meanwhile.

**Compiled kernels.** The crime engine's hourly loops and the residents' daily
update are compiled by Numba on first use and cached (``__pycache__``). The
benchmark points every child at a cache folder of its own (``NUMBA_CACHE_DIR``, a
temporary folder removed afterwards), empty at the start: the first run of the
first scenario compiles the kernels, and is timed and printed on its own as the
first run on a machine; the repeats then load the compiled kernels, as every run
after the first does on a user's machine. ``--scaling`` or ``--batch`` alone
first compile them in a short untimed run.

``--all`` is what ``make bench`` runs: ``--reference f5ca564 --same-settings`` on
the baseline and city_500k, then ``--scaling``, then ``--batch``. Neither of its two
ratios for a file compares the same work: on the full file this code also plays
what the older code does not know (non-call duties, an agency's own line,
pre-emption, the offenders' fate); on the reference's copy both codes run the same
file, but the model has changed since (its calibration, its offenders), so the two
still make different numbers of calls and offences. The tables of each give them.

A run that fails ends the benchmark with ``benchmark failed:``, the run and its error
on stderr, and exit status 1 (a scenario file the simulator refuses: its own message);
Ctrl-C or SIGTERM stops it with every run it started (130, 143).

Run it from anywhere (paths are relative to the repository root)::

    .venv/bin/python benchmarks/bench_run.py
    .venv/bin/python benchmarks/bench_run.py --scenario scenarios/baseline.yaml \\
        --days 365 --repeat 3 --seed 1 --json bench.json
    .venv/bin/python benchmarks/bench_run.py --scenario scenarios/baseline.yaml \\
        scenarios/city_500k.yaml --repeat 1
    .venv/bin/python benchmarks/bench_run.py --scaling
    .venv/bin/python benchmarks/bench_run.py --reference f5ca564 --repeat 2 \\
        --scenario scenarios/baseline.yaml scenarios/city_500k.yaml
    .venv/bin/python benchmarks/bench_run.py --batch
    .venv/bin/python benchmarks/bench_run.py --all
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO_ROOT))

# ``simulator`` is imported inside the child processes only: the parent stays
# small, because its peak RSS is carried over into each child's ru_maxrss.

DEFAULT_SCENARIO = "scenarios/baseline.yaml"
SCALING_SCENARIO = "scenarios/metropole_1500k.yaml"
SCALING_TOTALS = (50_000, 150_000, 500_000, 1_500_000)
REFERENCE_COMMIT = "f5ca564"  # main before issue 13 (the speed-up's reference)
# Settings added to the scenario language after REFERENCE_COMMIT that the shipped
# scenarios use: the reference runs the same file without them (dotted paths, * any name).
NEWER_SETTINGS = (
    # Non-call duties, pre-emption and calls to an agency's own line (issue 14).
    ("agencies", "*", "duties"),
    ("dispatch", "preemption"),
    ("agencies", "*", "direct_calls"),
    # Hot spots by offence types (the State police's hot spots of assaults).
    ("agencies", "*", "patrol", "hotspot_offences"),
    # A type's own weights by district type (its mix in priority neighbourhoods),
    # written in a file that lists its offence types whole, such as city_500k.yaml.
    ("crime", "types", "*", "district_factors"),
    # What an offence type says of its offenders' fate (issue 9): written in a file
    # that lists its offence types whole, such as city_500k.yaml.
    *(
        ("crime", "types", "*", key)
        for key in (
            "stay_min",
            "later_clearance_prob",
            "later_clearance_delay_h",
            "investigation_days",
            "prison_prob",
            "prison_days",
            "armed_only",
        )
    ),
)
ALL_SCENARIOS = ("scenarios/baseline.yaml", "scenarios/city_500k.yaml")
BATCH_RUNS = 8


@dataclass(frozen=True)
class Job:
    """What one child process runs.

    Attributes:
        path: Absolute path of the scenario file.
        overrides: ``dotted.key=value`` overrides given to ``load_scenario``.
        seed: Seed of the run.
    """

    path: str
    overrides: tuple[str, ...]
    seed: int


@dataclass(frozen=True)
class Sample:
    """Figures of one timed run, made in a child process of its own.

    Attributes:
        wall_s: Wall time of ``run()`` seen by the caller (seconds).
        simulation_s: Simulation part of it, from the run's metadata (seconds).
        days: Days of the statistics window (``run.days``).
        sim_days: Days simulated: warm-up plus window.
        residents: Residents of the territory.
        cells: Cells of the territory.
        calls: Calls counted in the window.
        offences: Offences that happened in the window (actual, recorded or not).
        events: Model events scheduled during the run.
        events_per_s: Events per wall second.
        calls_per_s: Calls per wall second.
        offences_per_s: Offences per wall second.
        resident_hours_per_s: Residents x simulated hours per wall second.
        sim_days_per_s: Simulated days (warm-up + window) per wall second.
        maxrss_kib: The child's ru_maxrss (RUSAGE_SELF) after the run (KiB).
        maxrss_before_kib: The child's ru_maxrss before the run (imports, scenario).
        hwm_kib: The child's VmHWM after the run (KiB; 0 where not available).
    """

    wall_s: float
    simulation_s: float
    days: int
    sim_days: int
    residents: int
    cells: int
    calls: int
    offences: int
    events: int
    events_per_s: float
    calls_per_s: float
    offences_per_s: float
    resident_hours_per_s: float
    sim_days_per_s: float
    maxrss_kib: int
    maxrss_before_kib: int
    hwm_kib: int


SIZE_HEADER = (
    "run", "wall s", "sim s", "days", "sim days", "residents", "cells", "calls", "offences",
    "events", "maxrss MiB", "VmHWM MiB",
)  # fmt: skip
RATE_HEADER = ("run", "events/s", "calls/s", "offences/s", "sim days/s", "M resident-h/s")
SCALING_HEADER = (
    "residents", "cells", "offences", "calls", "wall s", "s per 1,000 offences",
    "s per M resident-h", "maxrss MiB",
)  # fmt: skip
INT_FIELDS = (
    "days", "sim_days", "residents", "cells", "calls", "offences", "events",
    "maxrss_kib", "maxrss_before_kib", "hwm_kib",
)  # fmt: skip


def resolve(path: str) -> Path:
    """A path as given if absolute, else relative to the repository root.

    Args:
        path: File path from the command line.

    Returns:
        The absolute path.
    """
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def shown(path: Path) -> Path:
    """A path relative to the repository root where possible, for display."""
    return path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path


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


def _hwm_kib() -> int:
    """VmHWM of this process from /proc/self/status (KiB), 0 where unavailable."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


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


# ---------------------------------------------------------------- child side


def _load(job: Job) -> Any:
    """The job's scenario; a file the simulator refuses ends the child with its message.

    (The message is the simulator's own, file, line and key; the parent prints it.)
    """
    from simulator import load_scenario

    try:
        return load_scenario(job.path, list(job.overrides))
    except Exception as refused:  # the reference's code may name its error otherwise
        if type(refused).__name__ != "ScenarioError":
            raise
        raise SystemExit(str(refused)) from None


def _child_timed(job: Job) -> tuple[dict[str, Any], Sample]:
    """Run ``job`` once, timed, in this (fresh) process.

    Returns:
        The scenario's description and the run's figures.
    """
    from simulator import run

    scenario = _load(job)
    gc.collect()
    before = _maxrss_kib()
    started = time.perf_counter()
    result = run(scenario, seed=job.seed)
    wall = time.perf_counter() - started
    maxrss, hwm = _maxrss_kib(), _hwm_kib()
    # The reference commit's code may give the summary as a plain mapping (before the typed one).
    summary = result.summary if isinstance(result.summary, dict) else result.summary.as_json()
    days = int(scenario.run.days)
    sim_days = days + int(scenario.run.warmup_days)
    residents = int(summary["residents"])
    calls = int(summary["calls"]["total"])
    offences = int(summary["offences"]["actual"]) if "offences" in summary else 0
    events = int(summary["events"])
    sample = Sample(
        wall_s=wall,
        simulation_s=float(result.metadata["simulation_s"]),
        days=days,
        sim_days=sim_days,
        residents=residents,
        cells=int(result.districts["cells"].sum()),
        calls=calls,
        offences=offences,
        events=events,
        events_per_s=events / wall,
        calls_per_s=calls / wall,
        offences_per_s=offences / wall,
        resident_hours_per_s=residents * sim_days * 24.0 / wall,
        sim_days_per_s=sim_days / wall,
        maxrss_kib=maxrss,
        maxrss_before_kib=before,
        hwm_kib=hwm,
    )
    described = {
        "name": scenario.name,
        "days": scenario.run.days,
        "warmup_days": scenario.run.warmup_days,
    }
    return described, sample


def _child_traced(job: Job) -> int:
    """Run ``job`` once under tracemalloc in this (fresh) process; its peak in bytes."""
    from simulator import run

    scenario = _load(job)
    gc.collect()
    tracemalloc.start()
    try:
        run(scenario, seed=job.seed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


# ---------------------------------------------------------------- parent side


def _child(mode: str, root: Path, payload: dict[str, Any]) -> Any:
    """Run this script as a fresh child process that imports ``simulator`` from ``root``.

    The child is a new interpreter (the same ``sys.executable``), so nothing
    imported here, and no earlier run, is shared with it.

    Args:
        mode: ``timed``, ``traced`` or ``batch``.
        root: The source tree whose ``simulator`` package the child must import.
        payload: The job, as JSON.

    Returns:
        What the child printed as JSON on its last line of output.
    """
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--child-root",
        str(root),
    ]
    parent = os.getpid()
    proc = subprocess.run(
        cmd,
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
        # The child dies with this process, even one killed with SIGKILL (stopped with
        # SIGINT or SIGTERM, subprocess.run kills it itself: see main()).
        preexec_fn=lambda: _die_with(parent),
    )
    if proc.returncode != 0:
        raise BenchFailed(f"a {mode} run ({root}) failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class BenchFailed(RuntimeError):
    """A run of the benchmark failed: said on stderr, exit status 1, no traceback."""


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised as Ctrl-C is, so that the same clean-up runs."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the benchmark as Ctrl-C does."""
    raise _Terminated


def _die_with(parent: int) -> None:
    """In a child, before it starts: the kernel kills it if the benchmark dies (Linux).

    ``simulator.stopping.die_with_parent`` does the same for the batch's workers; the
    benchmark's parent does not import ``simulator`` (see above), so it asks here.
    """
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def timed_run(job: Job, root: Path = REPO_ROOT) -> tuple[dict[str, Any], Sample]:
    """Run ``job`` once in a fresh child process.

    Args:
        job: Scenario, overrides and seed.
        root: Source tree of the code to run (this checkout by default).

    Returns:
        The scenario's description and the run's figures (memory from the child).
    """
    out = _child("timed", root, asdict(job))
    return out["described"], Sample(**out["sample"])


def tracemalloc_peak(job: Job, root: Path = REPO_ROOT) -> int:
    """Peak of Python allocations (bytes) during one extra run, in a fresh child.

    Args:
        job: Scenario, overrides and seed.
        root: Source tree of the code to run.

    Returns:
        The tracemalloc peak in bytes.
    """
    return int(_child("traced", root, asdict(job)))


def _drop(data: Any, path: tuple[str, ...], prefix: tuple[str, ...]) -> list[str]:
    """Remove the setting at ``path`` (``*``: any key) from ``data``; return what went."""
    if not isinstance(data, dict) or not path:
        return []
    head, rest = path[0], path[1:]
    keys = list(data) if head == "*" else [head] if head in data else []
    dropped: list[str] = []
    for key in keys:
        if rest:
            dropped += _drop(data[key], rest, (*prefix, str(key)))
        else:
            del data[key]
            dropped.append(".".join((*prefix, str(key))))
    return dropped


def reference_scenario(path: Path, folder: Path) -> tuple[Path, list[str]]:
    """A copy of the scenario at ``path`` without the settings of :data:`NEWER_SETTINGS`.

    The reference commit's code refuses settings it does not know; it runs the same
    scenario without them (and so without the work they add). The copy is written in
    ``folder`` (the reference's temporary folder), never beside the user's file.

    Returns:
        The copy's path and the settings left out, as dotted names (``*`` for any key).
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    dropped = [".".join(setting) for setting in NEWER_SETTINGS if _drop(data, setting, ())]
    if isinstance(data, dict) and isinstance(data.get("extends"), str):
        data["extends"] = str((path.parent / data["extends"]).resolve())
    copy = folder / f"reference-{path.name}"
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return copy, dropped


@contextmanager
def reference_tree(commit: str) -> Iterator[Path]:
    """The files of ``commit`` in a temporary folder, removed on exit.

    ``git archive`` reads the commit from the repository without changing it
    (no worktree entry, no checkout), so the user's files stay as they are.

    Args:
        commit: Any commit name git understands (``f5ca564``, a tag, ``HEAD~3``).

    Yields:
        The folder holding the commit's tree.
    """
    rev = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if rev.returncode != 0:
        raise SystemExit(f"bench_run.py: --reference {commit}: not a commit of {REPO_ROOT}")
    tmp = Path(tempfile.mkdtemp(prefix="secsim-bench-ref-"))
    try:
        tree = tmp / "tree"
        tree.mkdir()
        archive = subprocess.Popen(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", rev.stdout.strip()],
            stdout=subprocess.PIPE,
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
        if archive.stdout is not None:
            archive.stdout.close()
        if archive.wait() != 0:
            raise SystemExit(f"bench_run.py: git archive {commit} failed")
        yield tree
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def median_sample(samples: list[Sample]) -> Sample:
    """Field-wise median of several samples.

    Args:
        samples: At least one sample.

    Returns:
        A sample whose every field is the median of that field.
    """
    rows = [asdict(s) for s in samples]
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    for k in INT_FIELDS:
        med[k] = int(med[k])
    return Sample(**med)


def render(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for n, r in enumerate(table):
        cells = [r[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(labels: list[str], samples: list[Sample]) -> str:
    """Two plain-text tables, one row per sample: sizes and times, then rates.

    Args:
        labels: Row labels (same length as ``samples``).
        samples: The figures.

    Returns:
        The tables as text.
    """
    sizes = [
        (
            label,
            f"{s.wall_s:.2f}",
            f"{s.simulation_s:.2f}",
            f"{s.days:d}",
            f"{s.sim_days:d}",
            f"{s.residents:,d}",
            f"{s.cells:,d}",
            f"{s.calls:,d}",
            f"{s.offences:,d}",
            f"{s.events:,d}",
            f"{s.maxrss_kib / 1024:,.1f}",
            f"{s.hwm_kib / 1024:,.1f}",
        )
        for label, s in zip(labels, samples, strict=True)
    ]
    rates = [
        (
            label,
            f"{s.events_per_s:,.0f}",
            f"{s.calls_per_s:,.0f}",
            f"{s.offences_per_s:,.0f}",
            f"{s.sim_days_per_s:.1f}",
            f"{s.resident_hours_per_s / 1e6:,.1f}",
        )
        for label, s in zip(labels, samples, strict=True)
    ]
    return render(SIZE_HEADER, sizes) + "\n\n" + render(RATE_HEADER, rates)


def scaling_overrides(path: Path, total: int) -> list[str]:
    """Overrides that scale the residents, the call rate and the agencies to ``total``.

    Each commune keeps its share of the file's residents (largest remainders
    make the sum exact); ``demand.rate_per_hour`` and every agency's size
    (``budget_eur``, ``officers``, ``units``, ``sites``, whichever the file
    gives) are scaled by the same factor, so that a small city is policed like a
    small city (at least one officer, unit or site where the file has some).

    Args:
        path: The scenario file.
        total: Residents wanted in all.

    Returns:
        ``dotted.key=value`` strings for ``load_scenario``.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    residents = [int(c["residents"]) for c in data["territory"]["communes"]]
    base = sum(residents)
    factor = total / base
    exact = [r * factor for r in residents]
    scaled = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: scaled[i] - exact[i])
    for i in by_remainder[: total - sum(scaled)]:
        scaled[i] += 1
    overrides = [f"territory.communes.{i}.residents={n}" for i, n in enumerate(scaled)]
    rate = float(data["demand"]["rate_per_hour"]) * factor
    overrides.append(f"demand.rate_per_hour={rate:.6g}")
    for name, agency in data["agencies"].items():
        if "budget_eur" in agency:
            overrides.append(
                f"agencies.{name}.budget_eur={float(agency['budget_eur']) * factor:.0f}"
            )
        for key in ("officers", "units", "sites"):
            if key in agency:
                overrides.append(f"agencies.{name}.{key}={max(1, round(agency[key] * factor))}")
    return overrides


def format_scaling(samples: list[Sample]) -> str:
    """The scaling table: cost per offence against cost per resident-hour."""
    rows = [
        (
            f"{s.residents:,d}",
            f"{s.cells:,d}",
            f"{s.offences:,d}",
            f"{s.calls:,d}",
            f"{s.wall_s:.2f}",
            f"{s.wall_s / s.offences * 1000:.3f}" if s.offences else "-",
            f"{s.wall_s / (s.residents * s.sim_days * 24.0 / 1e6):.4f}" if s.residents else "-",
            f"{s.maxrss_kib / 1024:,.1f}",
        )
        for s in samples
    ]
    return render(SCALING_HEADER, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line.

    Args:
        argv: Arguments (``sys.argv[1:]`` if omitted).

    Returns:
        The parsed options.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--scenario",
        nargs="+",
        default=[DEFAULT_SCENARIO],
        metavar="YAML",
        help=f"YAML file(s), relative to the repository root (default {DEFAULT_SCENARIO})",
    )
    parser.add_argument("--days", type=int, default=365, help="run.days override (default 365)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every run (default 1)")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the extra run under tracemalloc"
    )
    parser.add_argument(
        "--reference",
        metavar="COMMIT",
        help="also run each scenario on COMMIT's code, alternating with this one, and print "
        "the ratio of wall times (e.g. --reference f5ca564)",
    )
    parser.add_argument(
        "--same-settings",
        action="store_true",
        help="with --reference, also run this code on the reference's copy of each scenario "
        "(without the settings the older code does not know): the same file for both",
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help=(
            f"run {SCALING_SCENARIO}'s territory with "
            f"{', '.join(f'{n:,d}' for n in SCALING_TOTALS)} residents (one run each; "
            "--scenario and --repeat are ignored)"
        ),
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help=f"time {BATCH_RUNS} runs of {DEFAULT_SCENARIO} with 1 and with 2 workers, "
        "--repeat pairs",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help=f"what `make bench` runs: --reference {REFERENCE_COMMIT} --same-settings on "
        f"{' and '.join(ALL_SCENARIOS)} (--repeat 1 unless given), --scaling and --batch",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        help="also write the figures as JSON to FILE (a new file, or one this script wrote)",
    )
    parser.add_argument("--child", choices=("timed", "traced", "batch"), help=argparse.SUPPRESS)
    parser.add_argument("--child-root", help=argparse.SUPPRESS)
    explicit = argv if argv is not None else sys.argv[1:]
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.same_settings and not (args.reference or args.all):
        parser.error("--same-settings compares with a --reference")
    if args.all:
        args.reference = args.reference or REFERENCE_COMMIT
        args.same_settings = True
        if "--scenario" not in explicit:
            args.scenario = list(ALL_SCENARIOS)
        if "--repeat" not in explicit:
            args.repeat = 1
        args.no_tracemalloc = True
    missing = [name for name in args.scenario if not resolve(name).is_file()]
    if missing:
        shipped = ", ".join(sorted(p.name for p in (REPO_ROOT / "scenarios").glob("*.yaml")))
        parser.error(
            f"no scenario file {', '.join(missing)} (paths are relative to {REPO_ROOT}; "
            f"scenarios/ holds {shipped})"
        )
    return args


def print_header(machine: dict[str, Any], what: str) -> int:
    """Print the machine description; return the key column width."""
    print(f"secsim benchmark: {what}")
    width = max(len(k) for k in [*machine, "scenario"])
    for key, value in machine.items():
        print(f"  {key.ljust(width)}  {value}")
    return width


def _progress(label: str, sample: Sample, parent_rss: int) -> None:
    print(
        f"  {label}: {sample.wall_s:.2f} s, child maxrss {sample.maxrss_kib / 1024:,.1f} MiB"
        f" (parent's at start {parent_rss / 1024:,.1f} MiB)",
        file=sys.stderr,
        flush=True,
    )


def _report_runs(samples: list[Sample], traced_peak: int | None) -> dict[str, Any]:
    """Print the tables and memory lines of one scenario's runs; return them as JSON."""
    median = median_sample(samples)
    labels = [f"#{i + 1}" for i in range(len(samples))] + ["median"]
    print(format_table(labels, [*samples, median]))
    print()
    peak = max(s.maxrss_kib for s in samples)
    print(f"peak RSS (child ru_maxrss RUSAGE_SELF, max over runs): {peak / 1024:,.1f} MiB")
    print(f"  child VmHWM, max over runs:                          "
          f"{max(s.hwm_kib for s in samples) / 1024:,.1f} MiB")  # fmt: skip
    print(f"  child ru_maxrss before its run (imports, scenario):  "
          f"{max(s.maxrss_before_kib for s in samples) / 1024:,.1f} MiB")  # fmt: skip
    if traced_peak is not None:
        print(f"tracemalloc peak (one extra run in its own child, not timed): "
              f"{traced_peak / 1024**2:,.1f} MiB")  # fmt: skip
    consistent = len({(s.calls, s.offences, s.events) for s in samples}) == 1
    if not consistent:
        print("WARNING: calls, offences or events differ between repeats with the same seed")
    return {
        "runs": [asdict(s) for s in samples],
        "median": asdict(median),
        "deterministic": consistent,
        "memory": {
            "peak_rss_kib": int(peak),
            "peak_rss_before_runs_kib": max(s.maxrss_before_kib for s in samples),
            "peak_vmhwm_kib": max(s.hwm_kib for s in samples),
            "tracemalloc_peak_bytes": traced_peak,
        },
    }


def bench_scenarios(
    args: argparse.Namespace, machine: dict[str, Any], reference: Path | None
) -> dict[str, Any]:
    """Timed repeats of each scenario, each run in a fresh child; side by side with a reference.

    With a reference tree, repeat ``i`` of the current code and repeat ``i`` of
    the reference run one after the other, so that a slow spell of the machine
    hits both.
    """
    what = "simulator.run(), each run in a fresh child process"
    if reference is not None:
        what += f", side by side with commit {args.reference}"
    width = print_header(machine, what)
    print(flush=True)
    results: list[dict[str, Any]] = []
    ratios: list[tuple[str, float, list[float]]] = []
    for name in args.scenario:
        path = resolve(name)
        job = Job(str(path), (f"run.days={args.days}",), args.seed)
        ref_job = job
        if reference is not None:
            copy, dropped = reference_scenario(path, reference.parent)
            ref_job = Job(str(copy), job.overrides, job.seed)
            if dropped:
                print(
                    f"  {shown(path)} on {args.reference}'s code: without {', '.join(dropped)}"
                    " (settings its code does not know)",
                    flush=True,
                )
        samples: list[Sample] = []
        ref_samples: list[Sample] = []
        same_samples: list[Sample] = []  # this code on the reference's copy (--same-settings)
        described: dict[str, Any] = {}
        first: Sample | None = None
        if not results:  # nothing compiled yet: this run compiles the kernels
            described, first = timed_run(job)
            _progress(f"{shown(path)} first run (compiles the kernels)", first, _maxrss_kib())
        for i in range(args.repeat):
            described, sample = timed_run(job)
            samples.append(sample)
            _progress(f"{shown(path)} run {i + 1}/{args.repeat}", sample, _maxrss_kib())
            if reference is not None:
                _, ref = timed_run(ref_job, reference)
                ref_samples.append(ref)
                _progress(f"  {args.reference}'s code, run {i + 1}", ref, _maxrss_kib())
                if args.same_settings:
                    _, same_run = timed_run(ref_job)
                    same_samples.append(same_run)
                    label = f"  this code on the same settings, run {i + 1}"
                    _progress(label, same_run, _maxrss_kib())
        traced_peak = None
        if not args.no_tracemalloc:
            print("  extra run under tracemalloc ...", file=sys.stderr, flush=True)
            traced_peak = tracemalloc_peak(job)

        print(
            f"  {'scenario'.ljust(width)}  {shown(path)} ({described['name']}),"
            f" days={described['days']}, warmup_days={described['warmup_days']},"
            f" seed={args.seed}, repeat={args.repeat}"
        )
        print()
        entry = {"scenario": {"path": str(path), **described}, **_report_runs(samples, None)}
        if first is not None:
            entry["first_run"] = asdict(first)
            print(
                f"first run, with no compiled kernels cached (Numba compiles them, once per"
                f" machine and code): {first.wall_s:.2f} s, against"
                f" {median_sample(samples).wall_s:.2f} s for the runs above"
            )
        if traced_peak is not None:
            entry["memory"]["tracemalloc_peak_bytes"] = traced_peak
            print(f"tracemalloc peak (one extra run in its own child, not timed): "
                  f"{traced_peak / 1024**2:,.1f} MiB")  # fmt: skip
        if reference is not None:
            print(f"\nthe same runs on commit {args.reference}'s code:")
            entry["reference"] = _report_runs(ref_samples, None)
            per_pair = [r.wall_s / s.wall_s for r, s in zip(ref_samples, samples, strict=True)]
            ratio = median_sample(ref_samples).wall_s / median_sample(samples).wall_s
            paired = statistics.median(per_pair)
            entry["speed_up"] = {
                "median_ratio": ratio,
                "median_of_pairs": paired,
                "per_repeat": per_pair,
            }
            ratios.append((str(shown(path)), ratio, per_pair))
            same = (samples[0].calls, samples[0].offences) == (
                ref_samples[0].calls,
                ref_samples[0].offences,
            )
            print(
                f"\nspeed-up over {args.reference}: {ratio:.2f}x (median wall time"
                f" {median_sample(ref_samples).wall_s:.2f} s ->"
                f" {median_sample(samples).wall_s:.2f} s;"
                f" per repeat {', '.join(f'{r:.2f}x' for r in per_pair)},"
                f" median of the pairs {paired:.2f}x);"
                f" calls and offences {'identical' if same else 'differ'}"
            )
            if first is not None:
                cold = median_sample(ref_samples).wall_s / first.wall_s
                entry["speed_up"]["first_run_ratio"] = cold
                print(f"  the first run, compiling the kernels: {cold:.2f}x")
            if same_samples:
                print(f"\nthis code on the settings {args.reference}'s code knows (the same file):")
                entry["same_settings"] = _report_runs(same_samples, None)
                per_same = [
                    r.wall_s / s.wall_s for r, s in zip(ref_samples, same_samples, strict=True)
                ]
                same_ratio = median_sample(ref_samples).wall_s / median_sample(same_samples).wall_s
                entry["speed_up"]["same_settings_ratio"] = same_ratio
                entry["speed_up"]["same_settings_per_repeat"] = per_same
                print(
                    f"\nspeed-up over {args.reference} on the same file: {same_ratio:.2f}x"
                    f" (median wall time {median_sample(ref_samples).wall_s:.2f} s ->"
                    f" {median_sample(same_samples).wall_s:.2f} s;"
                    f" per repeat {', '.join(f'{r:.2f}x' for r in per_same)})"
                )
                ratios.append((f"{shown(path)}, same settings", same_ratio, per_same))
        print()
        results.append(entry)
    if ratios:
        print(f"side-by-side ratio, wall time on {args.reference} / wall time now:")
        rows = [
            (
                name,
                f"{ratio:.2f}x",
                f"{statistics.median(per):.2f}x",
                f"{min(per):.2f}x - {max(per):.2f}x",
            )
            for name, ratio, per in ratios
        ]
        header = ("scenario", "ratio of medians", "median of pairs", "range over pairs")
        print(render(header, rows))
        print(
            "(a pair: a run of each code, one after the other; where the machine's speed"
            " drifts, the pairs' median is the steadier figure)"
        )
        if args.same_settings:
            print(
                "(the file itself: this code also plays the settings the older code does not"
                " know; same settings: both codes run the reference's copy, but the models"
                " differ since: the calls and offences of each are in the tables above)"
            )
        print()
    return {"seed": args.seed, "repeat": args.repeat, "reference": args.reference,
            "scenarios": results}  # fmt: skip


def bench_scaling(args: argparse.Namespace, machine: dict[str, Any]) -> dict[str, Any]:
    """One run per resident total on the metropole territory, each in a fresh child."""
    width = print_header(machine, "scaling of simulator.run() with residents")
    path = resolve(SCALING_SCENARIO)
    print(
        f"  {'scenario'.ljust(width)}  {shown(path)}: same extent and cells, residents of"
        f" every commune, demand.rate_per_hour and agencies' sizes scaled in proportion;"
        f" days={args.days}, seed={args.seed}, one run each"
    )
    print(flush=True)
    samples: list[Sample] = []
    runs = []
    for total in SCALING_TOTALS:
        overrides = (f"run.days={args.days}", *scaling_overrides(path, total))
        _, sample = timed_run(Job(str(path), overrides, args.seed))
        samples.append(sample)
        runs.append({"target_residents": total, "overrides": list(overrides), **asdict(sample)})
        _progress(f"{total:,d} residents", sample, _maxrss_kib())
    print(format_scaling(samples))
    print()
    sim_days = samples[0].sim_days
    print(
        f"wall s: run() in a fresh child; resident-h = residents x {sim_days} simulated days"
        " (warm-up + window) x 24; offences and calls: the window's."
    )
    print()
    return {"seed": args.seed, "days": args.days, "scaling": runs}


def bench_batch(args: argparse.Namespace, machine: dict[str, Any]) -> dict[str, Any]:
    """``run_batch`` of the same runs with 1 worker and with 2, side by side, ``--repeat`` times.

    Each batch runs in a fresh child. The pairs alternate which goes first (1 then 2,
    2 then 1, ...), so that a load that rises or falls during the benchmark does not
    favour one; each pair gives a speed-up, and the median and the range are printed,
    with the share of the cores' time other processes used during each batch. Only a
    quiet pair measures the batch engine: Linux shares the cores out equally between
    sessions (autogroup scheduling), so while another session keeps a core busy, two
    workers get little more CPU than one.
    """
    print_header(machine, f"secsim batch engine, {BATCH_RUNS} runs, 1 worker against 2")
    print(flush=True)
    payload = {
        "scenario": str(resolve(DEFAULT_SCENARIO)),
        "runs": BATCH_RUNS,
        "seed": args.seed,
        "days": args.days,
    }
    pairs: list[dict[str, Any]] = []
    for i in range(args.repeat):
        load_before = os.getloadavg()[0]
        pair: dict[str, Any] = {"load_before": load_before}
        for workers in (1, 2) if i % 2 == 0 else (2, 1):
            out = _child("batch", REPO_ROOT, {**payload, "workers": workers})
            if out["failed"]:
                first = next(iter(out["errors"].items()), ("", ""))
                raise BenchFailed(
                    f"{out['failed']} of {BATCH_RUNS} runs of the batch with {workers} worker(s)"
                    f" failed; the first, {first[0]}: {first[1][-2000:]}"
                )
            pair[f"wall_{workers}"] = float(out["wall_s"])
            pair[f"cpu_{workers}"] = float(out["cpu_s"])
            pair[f"others_{workers}"] = out["others_cpu_s"]
        pair["load_after"] = os.getloadavg()[0]
        pair["speed_up"] = pair["wall_1"] / pair["wall_2"]
        pairs.append(pair)
        print(
            f"  pair {i + 1}: 1 worker {pair['wall_1']:.2f} s ({pair['cpu_1']:.1f} CPU s),"
            f" 2 workers {pair['wall_2']:.2f} s ({pair['cpu_2']:.1f} CPU s),"
            f" speed-up {pair['speed_up']:.2f}x; other processes used {_share(pair, 1)} and"
            f" {_share(pair, 2)} of the cores; load average {load_before:.2f} before,"
            f" {pair['load_after']:.2f} after",
            file=sys.stderr,
            flush=True,
        )
    ratios = [p["speed_up"] for p in pairs]
    speed_up = statistics.median(ratios)
    wall_1 = statistics.median(p["wall_1"] for p in pairs)
    wall_2 = statistics.median(p["wall_2"] for p in pairs)
    spread = f" (pairs: {min(ratios):.2f}x to {max(ratios):.2f}x)" if len(pairs) > 1 else ""
    print(
        f"batch of {BATCH_RUNS} x {DEFAULT_SCENARIO} ({args.days} days each), median of"
        f" {len(pairs)} pair(s): 1 worker {wall_1:.2f} s, 2 workers {wall_2:.2f} s,"
        f" speed-up {speed_up:.2f}x{spread}"
    )
    shares = ", ".join(f"{_share(p, 1)} and {_share(p, 2)}" for p in pairs)
    print(
        f"({os.cpu_count()} CPUs; run_batch() timed in a fresh process, worker start included;"
        f" share of the cores' time used by other processes during the 1- and 2-worker batch"
        f" of each pair: {shares}; a figure is a quiet one only where both are a few %)"
    )
    print()
    return {
        "runs": BATCH_RUNS,
        "wall_s": {1: wall_1, 2: wall_2},
        "speed_up": speed_up,
        "pairs": pairs,
    }


def _share(pair: dict[str, Any], workers: int) -> str:
    """The share of the cores' time other processes used while a batch of the pair ran."""
    others = pair[f"others_{workers}"]
    if others is None:
        return "an unknown share"
    return f"{max(0.0, others) / (pair[f'wall_{workers}'] * (os.cpu_count() or 1)):.0%}"


def _child_batch(payload: dict[str, Any]) -> dict[str, Any]:
    """Time ``run_batch`` on a throw-away experiment in this (fresh) process."""
    from simulator.batch.runner import run_batch
    from simulator.batch.spec import load_experiment

    with tempfile.TemporaryDirectory(prefix="secsim-bench-batch-") as tmp:
        path = Path(tmp) / "bench_batch.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "name": "bench_batch",
                    "arms": {"baseline": {"scenario": payload["scenario"]}},
                    "replicates": payload["runs"],
                    "seed": payload["seed"],
                    "days": payload["days"],
                }
            ),
            encoding="utf-8",
        )
        spec = load_experiment(path)
        busy_before, cpu_before = _machine_busy_s(), _cpu_s()
        started = time.perf_counter()
        report = run_batch(spec, path, Path(tmp) / "store", workers=payload["workers"])
        wall = time.perf_counter() - started
        busy_after, cpu = _machine_busy_s(), _cpu_s() - cpu_before
    others = None if busy_after is None or busy_before is None else busy_after - busy_before - cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "others_cpu_s": others,
        "done": report.done,
        "failed": report.failed,
        "errors": report.errors,
    }


def _machine_busy_s() -> float | None:
    """CPU seconds the whole machine has been busy (all processes, and time stolen by a
    hypervisor), from ``/proc/stat``; ``None`` where there is no such file."""
    try:
        fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal (guest time is counted in user)
    ticks = [int(f) for f in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child_main(mode: str, root: str) -> int:
    """The child side: read a job on stdin, run it, print the figures as JSON."""
    sys.path.insert(0, root)  # before the editable install's finder and REPO_ROOT
    import simulator

    where = Path(simulator.__file__).resolve()
    if not where.is_relative_to(Path(root).resolve()):
        raise SystemExit(f"imported simulator from {where}, not from {root}")
    payload = json.loads(sys.stdin.read())
    out: Any
    if mode == "timed":
        described, sample = _child_timed(Job(payload["path"], tuple(payload["overrides"]),
                                             payload["seed"]))  # fmt: skip
        out = {"described": described, "sample": asdict(sample)}
    elif mode == "traced":
        out = _child_traced(Job(payload["path"], tuple(payload["overrides"]), payload["seed"]))
    else:
        out = _child_batch(payload)
    print(json.dumps(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally save) its figures.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` if omitted).

    Returns:
        The exit status.
    """
    args = parse_args(argv)
    if args.child:
        return child_main(args.child, args.child_root or str(REPO_ROOT))
    if args.json:
        refused = json_refused(Path(args.json))
        if refused:  # said before the benchmark's hour, not after it
            print(f"{args.json}: refused: {refused}", file=sys.stderr)
            return 2
    # SIGTERM (a job scheduler's, a CI timeout's) raises, as Ctrl-C does: the run under
    # way is killed by subprocess.run and the reference tree removed on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="secsim-bench-kernels-") as kernels:
        # Every child compiles into, or loads from, this empty cache (see the docstring).
        os.environ["NUMBA_CACHE_DIR"] = kernels
        return _bench(args)


def _bench(args: argparse.Namespace) -> int:
    """The benchmarks ``args`` ask for, in this (parent) process."""
    machine = machine_info()
    body: dict[str, Any] = {}
    if args.all or not (args.scaling or args.batch):
        if args.reference:
            with reference_tree(args.reference) as tree:
                body.update(bench_scenarios(args, machine, tree))
        else:
            body.update(bench_scenarios(args, machine, None))
        print(
            "wall s: run() as seen by the caller in the child; sim s: its simulation part;"
            " rates are per wall second; sim days = warm-up + window days;"
            " resident-h = residents x sim days x 24; calls and offences: the window's."
        )
        print()
    else:  # nothing compiled the kernels yet: they must not be compiled inside a timed run
        print("compiling the kernels (one day of the baseline, not timed) ...", flush=True)
        timed_run(Job(str(resolve(DEFAULT_SCENARIO)), ("run.days=1", "run.warmup_days=0"), 1))
    if args.all or args.scaling:
        body.update(bench_scaling(args, machine))
    if args.all or args.batch:
        body["batch"] = bench_batch(args, machine)
    parent_rss = _maxrss_kib()
    print(
        f"parent process ru_maxrss: {parent_rss / 1024:,.1f} MiB (a floor for each child's"
        " ru_maxrss: Linux keeps the parent's high-water mark across fork + exec; VmHWM is"
        " the child's own)"
    )
    if args.json:
        out = Path(args.json)
        payload = {"machine": machine, **body, "parent_maxrss_kib": parent_rss}
        refused = json_refused(out)  # again: nobody put a file there meanwhile
        if refused:
            print(f"{out}: refused: {refused}", file=sys.stderr)
            return 2
        write_json(out, payload)
        print(f"figures written to {out}")
    return 0


def json_refused(path: Path) -> str | None:
    """Why ``--json`` may not write ``path``, or None: a new file, or figures this script wrote.

    Never a link, a folder, or a file of someone else's (what this script writes is
    a JSON object with the machine's description and the parent's peak memory).
    """
    if path.is_symlink():
        return "this is a link; give a new file, or one this script wrote"
    if not path.exists():
        return None
    if not path.is_file():
        return "this is not a file; give a new file, or one this script wrote"
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        earlier = None
    if (
        isinstance(earlier, dict)
        and isinstance(earlier.get("machine"), dict)
        and "parent_maxrss_kib" in earlier
    ):
        return None
    return "this file was not written by bench_run.py; it is never replaced: give a new file"


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` under a temporary name, then rename it (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchFailed as failed:
        print(f"benchmark failed: {failed}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt as stop:
        print("benchmark stopped; its runs were stopped with it", file=sys.stderr)
        # The shell's convention: 128 + the signal number (SIGTERM 15, SIGINT 2).
        raise SystemExit(143 if isinstance(stop, _Terminated) else 130) from None
