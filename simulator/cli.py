"""The ``secsim`` command line: run, validate and batch scenarios, serve the dashboard.

Errors in a scenario or experiment are printed with file, line and key, and the
command exits with status 2 without writing anything; no traceback reaches the
user. An output folder that secsim did not make is refused (status 2); a write
that fails (disk full, no permission) names the path (status 74); SIGINT and
SIGTERM stop a command with all it started (status 130 and 143).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from simulator.agencies.agency import territory_findings
from simulator.batch.runner import SchedulerUnreachable
from simulator.batch.spec import MIN_SAMPLES
from simulator.outputs import OutputError, claim
from simulator.resources import ResourceError, check_fits
from simulator.runner import RunResult, run, run_identity, write_results
from simulator.scenario import (
    Problem,
    Scenario,
    ScenarioError,
    json_schema,
    load_scenario,
    resolved_dict,
)
from simulator.scenario.kinds import payer_levels
from simulator.scenario.loader import OptionOverride, Positions, read_yaml
from simulator.stopping import (
    STOP_SIGNALS,
    Interrupted,
    forget_held,
    install_handlers,
    raise_pending,
)
from simulator.world.territory import Territory, TerritoryError, build_territory

if TYPE_CHECKING:
    from simulator.calibration.spec import Calibration

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_OUT_OF_RANGE = 1  # secsim calibrate --check: a fit target's mean is out of its range
EXIT_UNAVAILABLE = 69  # sysexits.h EX_UNAVAILABLE: a Dask scheduler or a dashboard port
# Checks that need the territory built: a file territory's communes, districts and stations.
CHECKS = (territory_findings,)

OUT_RULE = (
    "a new or empty folder, or one holding an earlier secsim output (another kind of output "
    "is replaced only with --force); never a folder with other files, a file, the current "
    "or home folder"
)

EPILOG = """\
examples:
  secsim run scenarios/baseline.yaml
  secsim run scenarios/baseline.yaml --days 30 --seed 7 --out results/try
  secsim run scenarios/validation/mmc.yaml --set demand.rate_per_hour=8 \\
      --set agencies.state_police.units=5 --set demand.on_scene.mean_min=30
  secsim validate scenarios/*.yaml experiments/*.yaml
  secsim show scenarios/baseline.yaml --set run.days=30
  secsim show scenarios/toulouse_metropole.yaml    # real communes: districts and their types
  secsim figures --map scenarios/seine_saint_denis.yaml
  secsim evidence --quick --check      # published effect sizes against the model
  secsim calibrate calibration/baseline.yaml --quick   # history matching to sourced targets
  secsim schema > scenarios/schema.json
  secsim dashboard scenarios/baseline.yaml --port 8765
"""


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _add_workers(
    parser: argparse.ArgumentParser,
    help: str = "local worker processes (default: all cores; capped to them)",
) -> None:
    """The ``--workers`` option of the commands that run batches."""
    parser.add_argument("--workers", type=_positive, default=available_cores(), help=help)


# The quick figures' runs (secsim figures without --full).
QUICK_FIGURES = {"days": 30, "replicates": 2, "sobol_samples": 16}
# Where figures and the evidence report go by default: the published ones only from
# publication-quality runs; quick ones beside the results.
FIGURES_OUT = {"full": Path("figures"), "quick": Path("results/figures-quick")}
EVIDENCE_DOC = {
    "published": Path("docs/evidence.md"),  # --full over every shipped design
    "full": Path("results/evidence-full.md"),  # --full over the files given
    "quick": Path("results/evidence-quick.md"),
}


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 1 to 65535, found {value}")
    return value


def _scheduler(text: str) -> str:
    """A Dask scheduler's address: [protocol://]host:port (checked before anything runs)."""
    protocol, found, rest = text.partition("://")
    if not found:
        protocol, rest = "tcp", text
    host, _, port = rest.rpartition(":")
    if protocol not in ("tcp", "tls", "ws", "wss", "ucx") or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(
            f"expected a Dask scheduler's address such as tcp://10.0.0.5:8786, found {text!r}"
        )
    if not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 1 to 65535, found {port} in {text!r}")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, found {value}")
    return value


def _sobol_samples(text: str) -> int:
    value = _positive(text)
    if value & (value - 1) or value < MIN_SAMPLES["sobol"]:
        raise argparse.ArgumentTypeError(
            f"Sobol (Saltelli) sampling needs a power of two, at least {MIN_SAMPLES['sobol']}, "
            f"found {value}"
        )
    return value


def _capped_workers(requested: int, err: Console) -> int:
    cores = available_cores()
    if requested > cores:
        err.print(
            f"warning: --workers {requested} is more than the {cores} cores available; "
            f"using {cores} (more processes than cores only slow every run down)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return cores
    return requested


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario setting by its dotted key; the value is YAML "
        "(e.g. --set agencies.pm_centre.officers=120, --set 'demand.hourly_profile=flat'); "
        "repeatable",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secsim",
        description="Agent-based simulator of urban security: who answers which call, "
        "how fast, and at whose cost.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_run = sub.add_parser(
        "run",
        help="run one scenario and write its results",
        description="Run one scenario. Statistics cover --days days after --warmup-days "
        "days of warm-up (the run simulates both). Writes summary.json (and summary.parquet, "
        "one row), incidents.parquet, timeseries.parquet, districts.parquet, agencies.parquet "
        "and run.json into the output "
        "folder (default results/<file name>-<seed>/).",
    )
    p_run.add_argument("scenario", type=Path, help="scenario YAML file")
    p_run.add_argument("--seed", type=int, help="seed of the run (default: run.seed, 1)")
    p_run.add_argument("--days", type=int, help="days counted in statistics (default: run.days)")
    p_run.add_argument(
        "--warmup-days",
        type=int,
        help="days simulated before statistics (default: run.warmup_days)",
    )
    p_run.add_argument(
        "--out",
        type=Path,
        help=f"output folder (default: results/<file name>-<seed>/): {OUT_RULE}; an earlier "
        "run of the same scenario file and seed is replaced",
    )
    p_run.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier secsim output of another scenario (or file), seed or kind in "
        "--out (never files secsim did not write)",
    )
    _add_overrides(p_run)
    p_run.add_argument("--quiet", action="store_true", help="no progress bar and no table")

    p_val = sub.add_parser(
        "validate",
        help="check scenario, experiment and calibration files without running them",
        description="Check scenario, experiment, calibration and targets files; print every "
        "problem with file, line and key. A file with a top-level `arms:` key (or mostly "
        "experiment keys: design, replicates...) is an experiment, and its arms' scenarios, "
        "factors and design are checked too; one with `scenario:` and `parameters:` is a "
        "calibration (its scenario, parameters and targets are checked); one with only "
        "`targets:` (and `description:`) is a targets file; any other is a scenario. A "
        "scenario's settings that are allowed but likely not meant (a staffing profile of 0 "
        "over the service hours, an agency that never has a crew on duty, a commune no "
        "agency may act in) are printed as notes, located, and do not fail it.",
    )
    p_val.add_argument(
        "files",
        nargs="+",
        type=Path,
        help="scenario, experiment, calibration or targets YAML files",
    )
    p_show = sub.add_parser(
        "show",
        help="print a scenario fully resolved (defaults, extends and --set applied)",
        description="Print the scenario as the model will read it, as YAML.",
    )
    p_show.add_argument("scenario", type=Path, help="scenario YAML file")
    _add_overrides(p_show)
    p_batch = sub.add_parser(
        "batch",
        help="run an experiment: arms x design points x replicates",
        description="Run every run of an experiment file and store one Parquet file per run, "
        "a manifest and a consolidated table in the output folder. Replicate i of every arm "
        "shares its seed (common random numbers). Results do not depend on --workers or the "
        "executor. Every design point's scenario is checked before any run starts (a point "
        "that does not load stops the batch, naming the arm, the point and the key), and "
        "workers run those checked scenarios: a scenario file edited meanwhile does not "
        "reach them.",
    )
    p_batch.add_argument("experiment", type=Path, help="experiment YAML file")
    _add_workers(
        p_batch,
        "local worker processes (default: all cores; more than the cores available is "
        "capped to them, with a warning; not used with --scheduler, whose workers run the "
        "runs)",
    )
    p_batch.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        type=_scheduler,
        help="run on a Dask cluster instead, e.g. tcp://10.0.0.5:8786",
    )
    p_batch.add_argument(
        "--out",
        type=Path,
        help=f"results folder (default: results/<experiment file name>/): {OUT_RULE}; an "
        "earlier batch store there needs --resume (finish it) or --force (start it again); "
        "one batch at a time writes in it",
    )
    again = p_batch.add_mutually_exclusive_group()  # finish it, or start it again: not both
    again.add_argument(
        "--resume",
        action="store_true",
        help="finish a batch already in --out, skipping finished runs and running again "
        "interrupted, failed and damaged ones",
    )
    again.add_argument(
        "--force",
        action="store_true",
        help="start again a batch already in --out (or replace another earlier secsim output "
        "there; never files secsim did not write)",
    )
    p_batch.add_argument(
        "--quiet", action="store_true", help="no progress bar and no closing line (errors only)"
    )
    p_an = sub.add_parser(
        "analyze",
        help="means with confidence intervals, paired differences, sensitivity indices",
        description="Analyse a results folder of `secsim batch`; print the tables and write "
        "analysis/arms.csv, differences.csv, report.md and, for a Sobol or Morris design, "
        "sensitivity.csv in it. "
        "Sensitivity indices come with their 95 % intervals and, with 2 or more "
        "replicates per design point, the share of each output's variance that is "
        "simulation noise.",
    )
    p_an.add_argument("store", type=Path, help="results folder of a batch")
    p_fig = sub.add_parser(
        "figures",
        help="the six figures from the shipped experiments: a quick preview, or the "
        "published ones with --full",
        description="Rebuild the six figures (PNG, PDF and a caption file each) from the "
        "shipped scenarios and experiments, running what is missing. By default runs are "
        "short and few (a quick preview, in results/figures-quick/); --full uses the "
        "experiment files' own horizons and replicates (publication quality, the figures in "
        "figures/: make figures). Batch results are kept in --store and reused.",
    )
    p_fig.add_argument("--full", action="store_true", help="publication-quality runs")
    p_fig.add_argument(
        "--out",
        type=Path,
        help=f"figures folder (default: {FIGURES_OUT['full']}, where the published figures "
        "are, with --full or the --map of a file of scenarios/; "
        f"{FIGURES_OUT['quick']} otherwise, so that quick figures and maps of other files "
        "never replace them): new, empty, or one secsim wrote figures in (its figure files "
        "are replaced, other files kept)",
    )
    p_fig.add_argument(
        "--store",
        type=Path,
        default=Path("results/figures"),
        help="where batch results are kept (default: results/figures): a folder secsim "
        "made, or a new one",
    )
    p_fig.add_argument(
        "--days",
        type=_positive,
        help=f"days per run (default: {QUICK_FIGURES['days']}; not with --full)",
    )
    p_fig.add_argument(
        "--replicates",
        type=_positive,
        help="replicates per arm and design point "
        f"(default: {QUICK_FIGURES['replicates']}; not with --full)",
    )
    p_fig.add_argument(
        "--sobol-samples",
        type=_sobol_samples,
        help="base samples of the sensitivity design, a power of two, 4 or more "
        f"(default: {QUICK_FIGURES['sobol_samples']}; not with --full)",
    )
    _add_workers(p_fig)
    p_fig.add_argument(
        "--map",
        type=Path,
        metavar="SCENARIO",
        help="draw only the territory map (figure 1) of this scenario, e.g. "
        "scenarios/toulouse_metropole.yaml, as fig1_territory_<file name>",
    )
    p_ev = sub.add_parser(
        "evidence",
        help="run the published designs of experiments/evidence/ and report them "
        "(docs/evidence.md with --full)",
        description="Run each experiment of experiments/evidence/ (or the files given): a "
        "published design reproduced on the baseline city with paired replicates; compute "
        "each estimate with its 95 % interval, compare it with the target range the file "
        "names, and write the report (--doc) and estimates.csv and the batch stores (--out). "
        "--quick (the default) runs each file's short quick: block, --full its own "
        "replicates and horizon (make evidence). Finished runs are reused. Exit status: 0 "
        "when the report is written, whatever the verdicts; with --check, 1 when a target "
        "is out of range or not estimable; 2 for a bad experiment file or a refused folder.",
    )
    p_ev.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="experiment files with an evidence: block (default: experiments/evidence/*.yaml)",
    )
    mode = p_ev.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="few short replicates (the default; test suite)"
    )
    mode.add_argument(
        "--full", action="store_true", help="the files' own replicates and horizons (the report)"
    )
    _add_workers(p_ev)
    p_ev.add_argument(
        "--out",
        type=Path,
        default=Path("results/evidence"),
        help="folder of the batch stores and estimates.csv (default: results/evidence): new, "
        "empty, or one secsim evidence made (its finished runs are reused, estimates.csv "
        "replaced); never a folder with other files, a file, the current or home folder",
    )
    p_ev.add_argument(
        "--doc",
        type=Path,
        help=f"the report (default: {EVIDENCE_DOC['published']}, the published one, with "
        f"--full and no files; {EVIDENCE_DOC['full']} with --full and files; "
        f"{EVIDENCE_DOC['quick']} otherwise: only the whole full run replaces it): a new "
        "file, or one secsim evidence wrote (replaced whole, atomically); any other file is "
        "refused",
    )
    p_ev.add_argument(
        "--check",
        action="store_true",
        help="exit with status 1 when a target is out of range or not estimable",
    )
    p_ev.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p_cal = sub.add_parser(
        "calibrate",
        help="history matching of scenario settings to sourced targets (secsim calibrate)",
        description="Estimate the parameters a calibration file names by history matching "
        "with Gaussian-process emulators: waves of Latin-hypercube designs in the space not "
        "ruled out yet, each point run with replicates sharing their seeds, one emulator per "
        "target, and the points whose implausibility exceeds the cut-off ruled out. Runs go "
        "through the batch machinery (local processes, or a Dask cluster with --scheduler), "
        "one batch store per wave in --out (wave_1/, wave_2/... and best/). Writes "
        "nroy.parquet, waves.parquet, fit.csv, fit.md, overlay.yaml (a scenario that extends "
        "the calibrated one with the best point) and fit.png. Results do not depend on "
        "--workers or the executor. A stopped calibration is finished with --resume.",
    )
    p_cal.add_argument("calibration", type=Path, help="calibration YAML file")
    _add_workers(
        p_cal,
        "local worker processes (default: all cores; more than the cores available is "
        "capped to them, with a warning; not used with --scheduler, whose workers run the "
        "runs)",
    )
    p_cal.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        type=_scheduler,
        help="run on a Dask cluster instead, e.g. tcp://10.0.0.5:8786",
    )
    p_cal.add_argument(
        "--out",
        type=Path,
        help="output folder (default: results/calibration/<file name>, with -quick for "
        "--quick): new or empty, or one holding this calibration with --resume; never a "
        "folder with other files, a file, the current or home folder",
    )
    p_cal.add_argument(
        "--resume",
        action="store_true",
        help="finish the calibration already in --out: finished runs are reused, and the "
        "result is the one an uninterrupted calibration gives",
    )
    p_cal.add_argument(
        "--quick",
        action="store_true",
        help="use the file's quick: settings (shorter runs, fewer waves and points)",
    )
    p_cal.add_argument(
        "--check",
        action="store_true",
        help="calibrate nothing: run the file's scenario as it is (or --scenario's) with seeds "
        "1 to --seeds over the file's horizon (or --days), and print each target's mean over "
        "the seeds, its 95 %% interval and its range; exit status 1 when a fit target's mean "
        "is out of range; writes nothing",
    )
    p_cal.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="with --check: seeds 1 to N (default 10)",
    )
    p_cal.add_argument(
        "--days",
        type=int,
        metavar="N",
        help="with --check: N days after the warm-up instead of the file's run.days (365: a year)",
    )
    p_cal.add_argument(
        "--scenario",
        type=Path,
        help="with --check: check this scenario file against the calibration's targets instead "
        "of the calibration's own (out of sample)",
    )
    p_cal.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    sub.add_parser(
        "schema",
        help="print the JSON Schema of scenario files",
        description="Print the JSON Schema of scenario files. Editors with a YAML language "
        "server use it for completion and inline errors (scenarios/schema.json is a copy).",
    )
    p_dash = sub.add_parser(
        "dashboard",
        help="serve the dashboard in the browser: levers, the city live, save the scenario",
        description="Serve the dashboard (Mesa's SolaraViz) on http://HOST:PORT/: open that "
        "address in a browser (the command does not open one). Works with no internet: "
        "nothing is fetched from or sent to another machine. Ctrl-C stops the server.",
    )
    p_dash.add_argument(
        "scenario",
        type=Path,
        nargs="?",
        default=Path("scenarios/baseline.yaml"),
        help="scenario YAML file the levers start from (default: scenarios/baseline.yaml)",
    )
    p_dash.add_argument(
        "--port", type=_port, default=8765, help="TCP port, 1 to 65535 (default: 8765)"
    )
    p_dash.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default: 127.0.0.1, this machine only)",
    )
    _add_overrides(p_val)
    return parser


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary_table(summary: dict[str, Any]) -> Table:
    """A readable table of the main figures of a run, with units."""
    table = Table(title=f"{summary['scenario']} (seed {summary['seed']}, {summary['days']} days)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    calls = summary["calls"]
    wait, resp = summary["wait_min"], summary["response_min"]
    rows: list[tuple[str, Any, str]] = [
        ("calls", calls["total"], "calls"),
        ("calls per day", calls["per_day"], "calls/day"),
        ("answered", calls["answered"], "calls"),
        ("unanswered", calls["unanswered"], "calls"),
        ("wait, mean", wait["mean"], "min"),
        ("wait, p90", wait["p90"], "min"),
        ("response, mean", resp["mean"], "min"),
        ("response, median", resp["p50"], "min"),
        ("response, p90", resp["p90"], "min"),
        (
            "response within target",
            None if resp["within_target_share"] is None else 100 * resp["within_target_share"],
            "%",
        ),
    ]
    for p, d in resp["by_priority"].items():
        rows.append((f"response, priority {p}, mean", d["mean"], "min"))
    for agency, d in resp["by_agency"].items():
        rows.append((f"response, {agency}, mean", d["mean"], "min"))
    offences = summary.get("offences")
    if offences is not None:
        rows += [
            ("offences, actual", offences["actual_per_1000"], "per 1,000 residents/yr"),
            ("offences, recorded", offences["recorded_per_1000"], "per 1,000 residents/yr"),
            (
                "dark figure",
                None
                if offences["dark_figure_share"] is None
                else 100 * offences["dark_figure_share"],
                "% never known",
            ),
        ]
    trust = summary["trust"]
    rows.append(
        (
            "trust in police, start -> end",
            f"{trust['mean_start']:.2f} -> {trust['mean_end']:.2f}",
            "0 to 1",
        )
    )
    for agency, u in summary["utilisation"].items():
        rows.append((f"utilisation, {agency}", None if u is None else 100 * u, "%"))
    cost = summary["cost_eur_per_year"]
    for level in payer_levels([k for k, v in cost.items() if not isinstance(v, dict)]):
        rows.append((f"cost per year, {level}", cost[level] / 1e6, "M EUR"))
    rows.append(("run time", summary["runtime_s"], "s"))
    for name, value, unit in rows:
        table.add_row(name, _fmt(value), unit)
    return table


def _cmd_run(args: argparse.Namespace, out: Console, err: Console) -> int:
    overrides = list(args.overrides)
    for key, option, value in (
        ("run.seed", "--seed", args.seed),
        ("run.days", "--days", args.days),
        ("run.warmup_days", "--warmup-days", args.warmup_days),
    ):
        if value is not None:
            overrides.append(OptionOverride(f"{key}={value}", f"{option} {value}"))
    _expect(args.scenario, "scenario", "secsim run")
    scenario = load_scenario(args.scenario, overrides, CHECKS)
    _notes(err, scenario)
    seed = scenario.run.seed
    # Named after the file, so that a copy of a scenario never overwrites the original's results.
    target = args.out or Path("results") / f"{args.scenario.stem}-{seed}"
    # Refuse a folder before an hour of simulation, not after; checked again when writing.
    # The file is in the identity: a copy keeps its original's name, not its results.
    changes = list(args.overrides)  # the --set ones: a variant of the file
    identity = run_identity(scenario.name, seed, args.scenario, changes)
    claim(target, "run", identity=identity, force=args.force)
    check_fits(scenario)
    show = not args.quiet and out.is_terminal
    result: RunResult
    if show:
        columns = (
            TextColumn("simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=out, transient=True) as bar:
            task = bar.add_task("days", total=scenario.run.days + scenario.run.warmup_days)
            result = run(scenario, progress=lambda done, total: bar.update(task, completed=done))
    else:
        result = run(scenario)
    path = write_results(result, target, force=args.force, source=args.scenario, changes=changes)
    if not args.quiet:
        out.print(summary_table(result.summary.as_json()))
        out.print(f"results written to {path}/")
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace, out: Console, err: Console) -> int:
    from simulator.batch.runner import BatchReport, run_batch
    from simulator.batch.spec import load_experiment, point_count

    _expect(args.experiment, "experiment", "secsim batch")
    spec = load_experiment(args.experiment)
    store = args.out or Path("results") / args.experiment.stem
    total = len(spec.arms) * point_count(spec.design) * spec.replicates
    workers = args.workers if args.scheduler else _capped_workers(args.workers, err)
    show = not args.quiet and out.is_terminal
    try:
        if show:
            columns = (
                TextColumn("runs"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=out) as bar:
                task = bar.add_task("runs", total=total, failed=0)

                def advance(report: BatchReport) -> None:
                    bar.update(
                        task,
                        completed=report.skipped + report.done + report.failed,
                        failed=report.failed,
                    )

                report = run_batch(
                    spec,
                    args.experiment,
                    store,
                    workers=workers,
                    scheduler=args.scheduler,
                    resume=args.resume,
                    force=args.force,
                    progress=advance,
                )
        else:
            report = run_batch(
                spec,
                args.experiment,
                store,
                workers=workers,
                scheduler=args.scheduler,
                resume=args.resume,
                force=args.force,
            )
    except Interrupted as exc:
        if not store.exists():  # stopped before the store was made (checking a scheduler)
            _say(err, f"stopped by {exc}; nothing was written")
            return exc.exit_status
        _say(
            err,
            f"stopped by {exc}: finished runs are kept in {store}/, runs in flight are recorded "
            "as interrupted; add --resume to finish the batch",
        )
        return exc.exit_status
    for run_id, error in report.errors.items():
        err.print(f"failed: {run_id}: {error}", markup=False, highlight=False, soft_wrap=True)
    if report.rerun_damaged:
        _say(err, f"{report.rerun_damaged} stored runs were damaged (unreadable) and ran again")
    if not args.quiet:
        out.print(
            f"{report.done} runs done, {report.skipped} already stored, "
            f"{report.failed} failed; results in {store}/",
            soft_wrap=True,
        )
    return EXIT_OK if report.failed == 0 else 1


def _cmd_analyze(args: argparse.Namespace, out: Console, err: Console) -> int:
    from simulator.batch.analysis import analyze, check_not_running, no_results_reason
    from simulator.outputs import KIND_NAMES, read_marker

    if not args.store.is_dir():
        what = "not a folder" if args.store.exists() else "no such folder"
        _say(err, f"{args.store}: {what} (give the --out folder of secsim batch)")
        return EXIT_BAD_INPUT
    kind = (read_marker(args.store) or {}).get("kind")
    if kind != "store":
        # What it is, when secsim made it: a run's folder, the figures', an analysis...
        found = f"it is secsim's {KIND_NAMES.get(kind, kind)}" if kind else "no batch marker"
        _say(
            err,
            f"{args.store}: not a results folder of secsim batch ({found}); analyze reads "
            "the folder secsim batch writes (its --out, results/<experiment> by default)",
        )
        return EXIT_BAD_INPUT
    check_not_running(args.store)  # before the tables: a running batch has none yet
    if not (args.store / "summaries.parquet").exists():
        err.print(f"{args.store}: {no_results_reason(args.store)}", markup=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    analyze(args.store)
    sys.stdout.write((args.store / "analysis" / "report.md").read_text(encoding="utf-8"))
    return EXIT_OK


def _cmd_figures(args: argparse.Namespace, out: Console, err: Console) -> int:
    from simulator.figures import FigureSettings, build_all, build_map

    root = Path(__file__).resolve().parent.parent
    quick = {k: getattr(args, k) for k in QUICK_FIGURES}
    if args.full and any(v is not None for v in quick.values()):
        given = next(k for k, v in quick.items() if v is not None)
        _say(
            err,
            f"--full runs the experiment files' own horizons and replicates: it takes no "
            f"--{given.replace('_', '-')} (give one or the other)",
        )
        return EXIT_BAD_INPUT
    for key, default in QUICK_FIGURES.items():
        setattr(args, key, default if getattr(args, key) is None else getattr(args, key))
    if args.out is None:
        # The published figures' folder for the full set and for the maps of the shipped
        # scenarios; a map of another file (an edited copy, say) never replaces theirs.
        shipped = args.map is None or args.map.resolve().parent == root / "scenarios"
        published = (args.full or args.map is not None) and shipped
        args.out = FIGURES_OUT["full" if published else "quick"]
    command = "secsim figures" + (
        " --full"
        if args.full
        else f" --days {args.days} --replicates {args.replicates}"
        f" --sobol-samples {args.sobol_samples}"
    )
    settings = FigureSettings(
        root=root,
        out=args.out,
        store=args.store,
        full=args.full,
        days=args.days,
        replicates=args.replicates,
        sobol_samples=args.sobol_samples,
        workers=_capped_workers(args.workers, err),
        command=command,
    )
    if args.map is not None:
        mapped = load_scenario(args.map, (), CHECKS)  # bad input: a located message, nothing drawn
        if mapped.territory.kind == "point":
            _say(err, f"{args.map}: a point territory (one place, no grid) has no map to draw")
            return EXIT_BAD_INPUT
        settings = replace(settings, command=f"secsim figures --map {args.map}")
        written = build_map(settings, args.map)
    else:
        written = build_all(settings)
    out.print(f"{len(written)} files written in {args.out}/", soft_wrap=True)
    return EXIT_OK


def _cmd_evidence(args: argparse.Namespace, out: Console, err: Console) -> int:
    from simulator.evidence import EvidenceSettings, run_evidence, shipped_designs

    root = Path(__file__).resolve().parent.parent
    files = list(args.files) or shipped_designs(root / "experiments" / "evidence")
    if not files:
        _say(err, f"no experiment files given, and none in {root / 'experiments' / 'evidence'}")
        return EXIT_BAD_INPUT
    missing = [f for f in files if not f.is_file()]
    if missing:
        _say(err, f"{missing[0]}: no such experiment file")
        return EXIT_BAD_INPUT
    command = "secsim evidence " + ("--full" if args.full else "--quick")
    if args.doc is None:
        # Only the whole published set, at full size, replaces the published report.
        args.doc = EVIDENCE_DOC["quick" if not args.full else "full" if args.files else "published"]
    settings = EvidenceSettings(
        files=files,
        out=args.out,
        doc=args.doc,
        full=args.full,
        workers=_capped_workers(args.workers, err),
        command=command,
    )
    report = _by_stage(out, not args.quiet, lambda advance: run_evidence(settings, advance))
    if not args.quiet:
        table = Table(title=f"Effect sizes against evidence ({command.split()[-1][2:]} mode)")
        for column in ("design", "estimate", "target", "simulated (95 % interval)", "verdict"):
            table.add_column(column)
        for r in report.results:
            i = r.interval
            shown = (
                "not estimable"
                if not i.estimable
                else f"{i.value:+.3f} ({i.low:+.3f} to {i.high:+.3f})"
            )
            target = "-" if r.target is None else r.target.text()
            table.add_row(r.design, r.label, target, shown, r.verdict)
        out.print(table)
        out.print(
            f"{report.runs_done} runs done, {report.runs_reused} reused; report written to "
            f"{args.doc}, estimates and runs in {args.out}/",
            soft_wrap=True,
        )
    if args.check and report.out_of_range:
        names = ", ".join(f"{r.design}.{r.name}" for r in report.out_of_range)
        _say(err, f"out of range: {names}")
        return 1
    return EXIT_OK


def _by_stage[T](
    out: Console, show: bool, work: Callable[[Callable[[str, int, int], None] | None], T]
) -> T:
    """Do ``work`` with a progress bar of one line per stage (a design, a wave), or none.

    ``work`` receives the progress callback, (stage, runs done, runs in total), or
    None when nothing is shown (``--quiet``, or output that is not a terminal).
    """
    if not (show and out.is_terminal):
        return work(None)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=out) as bar:
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        return work(advance)


def _cmd_calibrate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from simulator.calibration.runner import CalibrationSettings, run_calibration
    from simulator.calibration.spec import load_calibration

    misused = _calibrate_misuse(args)
    if misused:
        _say(err, f"secsim calibrate: {misused}")
        return EXIT_BAD_INPUT
    calibration = load_calibration(args.calibration)
    if args.check:
        return _cmd_calibrate_check(args, calibration, out, err)
    suffix = "-quick" if args.quick else ""
    target = args.out or Path("results") / "calibration" / f"{args.calibration.stem}{suffix}"
    command = f"secsim calibrate {args.calibration}" + (" --quick" if args.quick else "")
    settings = CalibrationSettings(
        calibration=calibration,
        out=target,
        workers=args.workers if args.scheduler else _capped_workers(args.workers, err),
        scheduler=args.scheduler,
        resume=args.resume,
        quick=args.quick,
        command=command,
    )
    try:
        report = _by_stage(out, not args.quiet, lambda advance: run_calibration(settings, advance))
    except Interrupted as exc:
        _say(
            err,
            f"stopped by {exc}: finished runs are kept in {target}/; add --resume to finish "
            "the calibration",
        )
        return exc.exit_status
    if report.nroy_size == 0:
        _say(
            err,
            "warning: every parameter set was ruled out: no setting within the bounds matches "
            "every fit target; the best point shown is the least implausible one (widen the "
            "bounds, or give the targets a discrepancy_sd, see docs/calibrate.md)",
        )
    if not args.quiet:
        table = Table(title=f"Calibration {calibration.spec.name}: fit at the best point")
        for column in ("target", "use", "observed (range)", "simulated (95 % CI)", "I"):
            table.add_column(column)
        for row in report.fit.itertuples():
            table.add_row(
                str(row.target),
                str(row.use),
                f"{row.observed:.4g} ({row.low:.4g} to {row.high:.4g})",
                f"{row.sim_mean:.4g} ({row.sim_low:.4g} to {row.sim_high:.4g})",
                f"{row.implausibility:.2f}",
            )
        out.print(table)
        shares = ", ".join(f"{s:.3g}" for s in report.shares)
        out.print(
            f"{report.waves} waves ({report.stopped}); NROY share after each: {shares}; "
            f"{report.runs_done} runs done, {report.runs_reused} reused; results in {target}/ "
            f"(overlay: {target / 'overlay.yaml'})",
            soft_wrap=True,
        )
    return EXIT_OK


def _calibrate_misuse(args: argparse.Namespace) -> str | None:
    """What is wrong with the options of ``secsim calibrate``, if anything."""
    if not args.check:
        given = [
            flag
            for flag, value in (
                ("--seeds", args.seeds),
                ("--days", args.days),
                ("--scenario", args.scenario),
            )
            if value is not None
        ]
        if given:
            return f"{given[0]} goes with --check (it checks a scenario against the targets)"
        return None
    clashing = [
        flag
        for flag, value in (
            ("--resume", args.resume),
            ("--quick", args.quick),
            ("--scheduler", args.scheduler),
            ("--out", args.out),
        )
        if value
    ]
    if clashing:
        return f"--check runs no calibration: it takes no {clashing[0]} (it writes nothing)"
    if args.seeds is not None and args.seeds < 1:
        return f"--seeds must be at least 1, not {args.seeds}"
    if args.days is not None and args.days < 1:
        return f"--days must be at least 1, not {args.days}"
    return None


def _cmd_calibrate_check(
    args: argparse.Namespace, calibration: Calibration, out: Console, err: Console
) -> int:
    """``secsim calibrate FILE --check``: a scenario as it is against the file's targets."""
    from simulator.calibration.check import (
        MissingOutput,
        check_lines,
        check_targets,
        fit_in_range,
    )

    seeds = 10 if args.seeds is None else args.seeds
    scenario = args.scenario.resolve() if args.scenario else calibration.scenario_path
    try:
        table = _by_stage(
            out,
            not args.quiet,
            lambda advance: check_targets(
                calibration,
                scenario,
                seeds=seeds,
                workers=_capped_workers(args.workers, err),
                days=args.days,
                progress=None if advance is None else lambda done, n: advance("seeds", done, n),
            ),
        )
    except MissingOutput as exc:  # bad input (exit 2), not a target out of range (exit 1)
        _say(err, f"secsim calibrate: {exc}")
        return EXIT_BAD_INPUT
    if not args.quiet:  # (the exit status says whether every target is in range)
        sys.stdout.write(check_lines(table, scenario, calibration, seeds, args.days))
    if seeds < 2:
        _say(err, "note: one seed gives no interval; use --seeds 2 or more")
    return EXIT_OK if fit_in_range(table) else EXIT_OUT_OF_RANGE


def _no_overrides(overrides: list[str], kind: str, where: str) -> None:
    if overrides:
        message = f"--set applies to scenarios, not to {kind} files (write it {where})"
        raise ScenarioError([Problem(f"--set {overrides[0]}", None, None, (), message)], what=kind)


def _calibration_kind(data: dict[str, Any]) -> str | None:
    """``calibration`` or ``targets`` for such a file, even with a key misspelt; else None.

    As with experiments (``is_experiment``), a file is taken for what most of its
    top-level keys say, so that a calibration missing ``parameters:`` (misspelt) has
    its mistakes reported as a calibration's, not as a scenario's. A scenario has no
    ``targets:``: a file with it, and with no key of a calibration's or a scenario's
    own, is a targets file.
    """
    from simulator.calibration.spec import CalibrationFile

    keys = {str(k) for k in data}
    calibration_keys = set(CalibrationFile.model_fields) - set(Scenario.model_fields)
    scenario_keys = (set(Scenario.model_fields) - set(CalibrationFile.model_fields)) | {"extends"}
    if {"parameters", "scenario"} <= keys:
        return "calibration"
    others = (calibration_keys - {"targets"}) | scenario_keys
    if "targets" in keys and not keys & others:
        return "targets"
    if len(keys & calibration_keys) > len(keys & scenario_keys):
        return "calibration"
    return None


# What each kind of file is for: the command that takes it.
_COMMAND_OF = {
    "scenario": "secsim run",
    "experiment": "secsim batch",
    "evidence design": "secsim evidence",
    "calibration": "secsim calibrate",
    "targets": "secsim calibrate, through a calibration file's targets:,",
}


def _file_kind(path: Path) -> str:
    """What kind of secsim file ``path`` holds, by its top-level keys (as validate reads it).

    A file that cannot be read, or is not a mapping, counts as the kind asked for:
    its own loader then says what is wrong with it.
    """
    try:
        data = read_yaml(path, Positions(str(path)))  # a mapping, or refused
    except (ScenarioError, OSError):
        return "unreadable"
    return _kind_of(data)


def _kind_of(data: dict[str, Any]) -> str:
    """What kind of secsim file a mapping read from one is, by its top-level keys."""
    from simulator.batch.spec import is_experiment

    kind = _calibration_kind(data)
    if kind is not None:
        return kind
    if is_experiment(data):
        return "evidence design" if "evidence" in data else "experiment"
    return "scenario"


def _expect(path: Path, wanted: str, command: str) -> None:
    """Refuse a file of another kind than ``command`` takes, naming the one that does.

    A policy maker who runs an experiment file, or batches a scenario, gets one
    line saying so instead of a list of keys the other kind does not know.
    """
    kind = _file_kind(path)
    if kind in (wanted, "unreadable") or (wanted, kind) == ("experiment", "evidence design"):
        return

    def a(word: str) -> str:
        return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"

    message = f"this is {a(kind)} file, not {a(wanted)}: {command} takes {wanted} files; "
    message += f"{_COMMAND_OF[kind]} takes this one"
    raise ScenarioError([Problem(str(path), None, None, (), message)], what="file")


def _validate_one(path: Path, overrides: list[str], out: Console) -> None:
    from simulator.batch.spec import load_experiment

    try:
        data = read_yaml(path, Positions(str(path)))
    except ScenarioError as exc:  # what the file is, is not known yet
        raise ScenarioError(exc.problems, what="file") from None
    kind = _kind_of(data)
    if kind == "calibration":
        from simulator.calibration.spec import load_calibration

        _no_overrides(overrides, "calibration", "in the scenario the calibration names")
        calibration = load_calibration(path)
        counts = (
            f"{len(calibration.spec.parameters)} parameters, {len(calibration.targets)} targets"
        )
        _say(out, f"{path}: ok (calibration {calibration.spec.name}, {counts})")
        return
    if kind == "targets":
        from simulator.calibration.targets import load_targets

        _no_overrides(overrides, "targets", "in the targets file")
        targets = load_targets(path)
        _say(out, f"{path}: ok (targets file, {len(targets.targets)} targets)")
        return
    if kind in ("experiment", "evidence design"):
        from simulator.batch.runner import plan_and_arms

        _no_overrides(overrides, "experiment", "in an arm's set:")
        spec = load_experiment(path)
        # Every design point, as the batch checks them before its first run: levels that
        # load one by one may not load together.
        plan_and_arms(spec, path, Path("results") / path.stem)
        if spec.evidence is not None:
            from simulator.evidence import load_design

            load_design(path)  # the names its evidence: block uses
        arms = f"{len(spec.arms)} arm{'s' if len(spec.arms) != 1 else ''}"
        _say(out, f"{path}: ok (experiment {spec.name}, {arms})")
        return
    # The territory check lays out the territory (cheap), after the memory estimate.
    scenario = load_scenario(path, overrides, CHECKS)
    _say(out, f"{path}: ok ({scenario.name})")
    _notes(out, scenario)


def _notes(console: Console, scenario: Scenario) -> None:
    """The loader's notes on a scenario: allowed, likely not meant (they do not stop it)."""
    for note in scenario.notes:
        _say(console, f"note: {note}")


def territory_summary(t: Territory) -> str:
    """A file territory as built, as YAML comments: communes, districts and why each type."""
    land = t.land
    residents = np.bincount(t.commune[land], weights=t.residents[land])
    cells = np.bincount(t.commune[land])
    lines = [
        "",
        f"# Territory built from files ({t.crs}, cells of {t.cell_m:g} m): "
        f"{t.nx} x {t.ny} cells, {int(land.sum()):,} on land, {int(t.residents.sum()):,} "
        f"residents, {int(t.jobs.sum()):,} jobs, {len(t.commune_names)} communes, "
        f"{t.n_districts} districts, {len(t.station_ids)} stations.",
        "# commune: code, name, cells, residents",
    ]
    for k, code in enumerate(t.commune_ids):
        lines.append(f"#   {code}  {t.commune_names[k]}  {cells[k]:,}  {int(residents[k]):,}")
    lines.append("# district: code, name, commune, type (why), residents")
    d_res = np.bincount(t.district[land], weights=t.residents[land], minlength=t.n_districts)
    for d, code in enumerate(t.district_ids):
        commune = t.commune_names[int(t.district_commune[d])]
        lines.append(
            f"#   {code}  {t.district_names[d]}  {commune}  {t.district_types[d].value} "
            f"({t.district_type_rules[d]})  {int(d_res[d]):,}"
        )
    if t.station_ids:
        lines.append("# station: id, kind, commune, name")
        for i, code in enumerate(t.station_ids):
            commune = t.commune_names[int(t.commune[t.station_cells[i]])]
            lines.append(f"#   {code}  {t.station_kinds[i]}  {commune}  {t.station_names[i]}")
    return "\n".join(lines) + "\n"


def _cmd_validate(args: argparse.Namespace, out: Console, err: Console) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            _validate_one(path, list(args.overrides), out)
        except ScenarioError as exc:
            _say(err, exc.render())
            status = EXIT_BAD_INPUT
        except TerritoryError as exc:
            _say(err, f"{path}: territory: {exc}")
            status = EXIT_BAD_INPUT
        except ResourceError as exc:
            _say(err, f"{path}: {exc}")
            status = EXIT_BAD_INPUT
    return status


def _cmd_dashboard(args: argparse.Namespace, out: Console, err: Console) -> int:
    from simulator.dashboard.server import missing_packages, port_refused, serve

    missing = missing_packages()
    if missing:
        err.print(
            f"the dashboard needs {', '.join(missing)}: install them with "
            "`.venv/bin/pip install -e '.[dashboard]'` (make test installs them)"
        )
        return EXIT_BAD_INPUT
    load_scenario(args.scenario, (), CHECKS)  # a mistake is reported here, not in the browser
    refused = port_refused(args.host, args.port)
    if refused is not None:
        err.print(f"secsim dashboard: {refused}; choose another with --port (or --host)")
        return EXIT_UNAVAILABLE
    out.print(f"secsim dashboard on http://{args.host}:{args.port}/ (Ctrl-C stops it)")
    serve(args.scenario, args.host, args.port)
    return EXIT_OK  # pragma: no cover - serve replaces this process


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``secsim`` and ``python -m simulator``."""
    args = _parser().parse_args(argv)
    # Messages carry paths, keys and values the user wrote: no markup ("o[test]" would
    # lose its brackets) and no emoji codes (":100:" of a file's line 100 is not 💯).
    out = Console(markup=False, emoji=False)
    err = Console(stderr=True, markup=False, emoji=False)
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    if threading.current_thread() is threading.main_thread():  # signals reach only that one
        install_handlers()
    try:
        status = _dispatch(args, out, err)
        raise_pending()  # a stop signal that came while a compiled kernel ran, and was held
        return status
    except ScenarioError as exc:
        _say(err, exc.render())
        return EXIT_BAD_INPUT
    except (TerritoryError, ResourceError) as exc:
        where = (
            getattr(args, "scenario", None)
            or getattr(args, "experiment", None)
            or getattr(args, "calibration", "")
        )
        what = "territory: " if isinstance(exc, TerritoryError) else ""
        _say(err, f"{where}: {what}{exc}")
        return EXIT_BAD_INPUT
    except OutputError as exc:
        _say(err, str(exc))
        return exc.status
    except SchedulerUnreachable as exc:
        _say(err, str(exc))
        return EXIT_UNAVAILABLE
    except Interrupted as exc:
        _say(err, f"stopped by {exc}; nothing half-written is left")
        return exc.exit_status
    except KeyboardInterrupt:
        _say(err, "stopped by SIGINT; nothing half-written is left")
        return 130
    finally:
        forget_held()  # the command ended by another error: the process may go on (tests)
        if threading.current_thread() is threading.main_thread():
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _dispatch(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.command == "run":
        return _cmd_run(args, out, err)
    if args.command == "show":
        _expect(args.scenario, "scenario", "secsim show")
        scenario = load_scenario(args.scenario, args.overrides, CHECKS)
        data = resolved_dict(scenario)
        # A timeline entry holds one action: leave out the actions it does not use.
        data["timeline"] = [
            {k: v for k, v in event.items() if v is not None} for event in data["timeline"]
        ]
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        sys.stdout.write(text)
        if scenario.territory.kind == "file":
            sys.stdout.write(territory_summary(build_territory(scenario.territory)))
        return EXIT_OK
    if args.command == "batch":
        return _cmd_batch(args, out, err)
    if args.command == "analyze":
        return _cmd_analyze(args, out, err)
    if args.command == "figures":
        return _cmd_figures(args, out, err)
    if args.command == "evidence":
        return _cmd_evidence(args, out, err)
    if args.command == "calibrate":
        return _cmd_calibrate(args, out, err)
    if args.command == "dashboard":
        return _cmd_dashboard(args, out, err)
    if args.command == "schema":
        sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
        return EXIT_OK
    return _cmd_validate(args, out, err)


if __name__ == "__main__":
    sys.exit(main())
