"""Run a calibration: waves of history matching whose runs go through the batch machinery.

The output folder (``--out``):

* ``.secsim`` (kind ``calibration``) and ``calibration.json``: what the results
  depend on (the calibration as sized, its targets, the resolved scenario, the
  code version), checked again on ``--resume``;
* ``wave_K/``: wave K's design and runs, a batch store (``secsim analyze`` reads
  it); ``best/``: the best point re-run with more replicates;
* ``nroy.parquet``, ``waves.parquet``, ``fit.csv``, ``fit.md``, ``overlay.yaml``
  and ``fit.png`` (see ``docs/calibrate.md``), each written under a temporary
  name and renamed.

Each wave's design is a function of the seed and of the earlier waves' runs, and
each run a function of its scenario and seed: a calibration stopped anywhere and
resumed plans the same designs, reuses the finished runs and ends with the same
results, whatever the number of workers or the executor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from simulator.batch.runner import BatchReport, check_scheduler, run_batch, runs_table
from simulator.batch.spec import ArmSpec, DesignSpec, ExperimentSpec, FactorSpec
from simulator.calibration.history import (
    Emulator,
    Observation,
    Wave,
    fit_emulator,
    from_unit,
    implausibility,
    maximin_subset,
    nroy_measure,
    rule_measure,
    to_unit,
    uniform_sample,
)
from simulator.calibration.report import (
    fit_figure,
    fit_markdown,
    overlay_text,
    round_value,
    write_parquet,
    write_text,
)
from simulator.calibration.spec import Calibration, CalibrationFile, ParameterSpec
from simulator.calibration.targets import TargetSpec
from simulator.outputs import OutputError, claim, exclusive, mark, read_marker, write_failed
from simulator.runner import code_version
from simulator.scenario.errors import Problem, ScenarioError

OUTPUT_KIND = "calibration"
ARM = "calibration"
# Streams of the method, spawned from its seed: one per wave's design, one for the
# sample that measures the NROY space, one for the emulators' optimiser, one for the
# replicates of the best point.
DESIGN, SHARE, EMULATOR, BEST = 0, 1, 2, 3

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CalibrationSettings:
    """What to run and where."""

    calibration: Calibration
    out: Path
    workers: int = 1
    scheduler: str | None = None
    resume: bool = False
    quick: bool = False
    command: str = "secsim calibrate"


@dataclass
class CalibrationReport:
    """What a calibration did and found."""

    waves: int = 0
    runs_done: int = 0
    runs_reused: int = 0
    shares: list[float] = field(default_factory=list)
    stopped: str = ""
    best: dict[str, float | int] = field(default_factory=dict)
    nroy_size: int = 0
    fit: pd.DataFrame = field(default_factory=pd.DataFrame)


def _seed(root: int, *path: int) -> int:
    return int(np.random.SeedSequence([root, *path]).generate_state(1)[0])


@dataclass(frozen=True)
class _Plan:
    """The calibration as sized, with the parts the waves use."""

    cal: Calibration
    spec: CalibrationFile
    keys: list[str]

    def point(self, row: np.ndarray) -> dict[str, float | int]:
        """A parameter set by key, as run (whole numbers for integer parameters)."""
        return {
            key: int(v) if self.spec.parameters[key].integer else float(v)
            for key, v in zip(self.keys, row, strict=True)
        }

    @property
    def parameters(self) -> list[ParameterSpec]:
        """The parameters' specifications, in the order of ``keys``."""
        return [self.spec.parameters[k] for k in self.keys]

    def experiment(
        self, name: str, values: np.ndarray, replicates: int, seed: int
    ) -> ExperimentSpec:
        points = [self.cal.settings(self.point(row)) for row in values]
        factors = {key: FactorSpec(values=[point[key] for point in points]) for key in points[0]}
        return ExperimentSpec(
            name=name,
            description=f"calibration {self.spec.name}",
            arms={ARM: ArmSpec(scenario=self.spec.scenario)},
            design=DesignSpec(kind="list", samples=1, factors=factors),
            replicates=replicates,
            seed=seed,
            days=self.spec.run.days,
            warmup_days=self.spec.run.warmup_days,
            outputs=self.cal.outputs,
        )


def _matrix(runs: pd.DataFrame, target: TargetSpec, name: str, cal: Calibration) -> np.ndarray:
    """The target's statistic, one row per design point, one column per replicate."""
    try:
        values = target.statistic(runs)
    except KeyError as exc:
        where = ("targets", name, "output")
        raise ScenarioError(
            [
                Problem(
                    str(cal.path),
                    None,
                    None,
                    where,
                    f"the runs of the scenario have no value {exc}: it is absent from this "
                    "scenario's summary (no crime engine, or no such agency?)",
                )
            ],
            what="calibration",
        ) from None
    frame = pd.DataFrame(
        {"point": runs["point"], "replicate": runs["replicate"], "value": values.to_numpy()}
    )
    table = frame.pivot(index="point", columns="replicate", values="value").sort_index()
    matrix: np.ndarray = table.to_numpy(dtype=float)
    if not np.isfinite(matrix).all():
        bad = int((~np.isfinite(matrix)).sum())
        raise OutputError(
            Path(str(cal.path)),
            f"target {name}: {bad} runs gave no value of {target.output} (nothing to measure, "
            "e.g. no offence of that type): narrow the bounds or lengthen the runs",
            1,
        )
    return matrix


def _run(
    plan: _Plan,
    settings: CalibrationSettings,
    store: Path,
    experiment: ExperimentSpec,
    report: CalibrationReport,
    progress: Progress | None,
) -> pd.DataFrame:
    """Run (or finish) one batch of the calibration; its consolidated runs."""
    total = len(next(iter(experiment.design.factors.values())).values or []) * (
        experiment.replicates
    )
    stage = store.name

    def advance(batch: BatchReport) -> None:
        if progress is not None:
            progress(stage, batch.skipped + batch.done + batch.failed, total)

    if progress is not None:
        progress(stage, 0, total)
    batch = run_batch(
        experiment,
        plan.cal.path,
        store,
        workers=settings.workers,
        scheduler=settings.scheduler,
        resume=True,
        progress=advance,
    )
    report.runs_done += batch.done
    report.runs_reused += batch.skipped
    if batch.failed:
        first = next(iter(batch.errors.items()))
        raise OutputError(store, f"{batch.failed} runs failed (first: {first[0]}: {first[1]})", 1)
    runs = runs_table(store)
    return runs.sort_values(["point", "replicate"]).reset_index(drop=True)


def _observation(target: TargetSpec) -> Observation:
    return Observation(target.observed, target.obs_var, target.discrepancy_sd**2)


def _claim_out(settings: CalibrationSettings, identity: str) -> None:
    out = settings.out
    earlier = claim(out, OUTPUT_KIND)
    described = out / "calibration.json"
    if earlier and (read_marker(out) or {}).get("kind") == OUTPUT_KIND:
        if not settings.resume:
            raise OutputError(
                out,
                "refused: this folder holds a calibration already: add --resume to finish it, "
                "or choose another --out",
            )
        try:
            stored: str | None = described.read_text(encoding="utf-8")
        except OSError:
            stored = None
        if stored is None and not any(out.glob("wave_*")):
            # Stopped between its marker and its description: nothing was run yet.
            write_text(described, identity)
            return
        if stored != identity:
            raise OutputError(
                out,
                "refused: this folder holds a different calibration, or the same one with "
                "changed settings, targets, scenario or code (or run with/without --quick): "
                "choose another --out",
            )
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failed(exc, out) from None
    # The marker first: a folder stopped between the two writes is still secsim's.
    mark(out, OUTPUT_KIND)
    write_text(described, identity)


def run_calibration(
    settings: CalibrationSettings, progress: Progress | None = None
) -> CalibrationReport:
    """History matching of the calibration's parameters to its targets; write the outputs.

    Args:
        settings: The checked calibration, the output folder and how to run.
        progress: Called with (stage, runs finished, runs planned); the stages are
            ``wave_1``, ``wave_2``... and ``best``.

    Raises:
        ScenarioError: A design point's scenario does not load, or a target reads a
            value the scenario's runs do not have.
        OutputError: The output folder is refused, a write failed, or runs failed.
        SchedulerUnreachable: No Dask scheduler answers at ``settings.scheduler``, or
            one of its workers cannot run this secsim (``WorkersUnfit``; nothing was
            written either way), or the scheduler was lost during a wave.
        Interrupted: Stopped by a signal (finished runs are kept: resume).
    """
    cal = settings.calibration
    spec = cal.spec.sized(settings.quick)
    plan = _Plan(cal, spec, list(spec.parameters))
    identity = json.dumps(
        {**cal.identity(), "sized": spec.model_dump(mode="json"), "code": code_version()},
        indent=2,
        sort_keys=True,
    )
    if settings.scheduler is not None:  # before the folder is made, as a batch does
        check_scheduler(settings.scheduler)
    _claim_out(settings, identity)
    with exclusive(settings.out, "calibration"):
        return _calibrate(plan, settings, progress)


def _calibrate(
    plan: _Plan, settings: CalibrationSettings, progress: Progress | None
) -> CalibrationReport:
    cal, spec, method = plan.cal, plan.spec, plan.spec.method
    params = plan.parameters
    d = len(params)
    names = list(cal.targets)
    fit_names = cal.fit_names
    fit_obs = tuple(_observation(cal.targets[n]) for n in fit_names)
    share_sample = uniform_sample(method.candidates, d, _seed(method.seed, SHARE))
    report = CalibrationReport()
    waves: list[Wave] = []
    last: dict[str, Emulator] = {}
    rows: list[pd.DataFrame] = []
    report.stopped = f"{method.waves} waves done"
    for k in range(1, method.waves + 1):
        if k == 1:
            unit = uniform_sample(method.points, d, _seed(method.seed, DESIGN, k))
        else:
            candidates = uniform_sample(method.candidates, d, _seed(method.seed, DESIGN, k))
            kept = candidates[nroy_measure(waves, candidates, method.rule) <= method.cutoff]
            if len(kept) < d + 2:  # too few to fit an emulator on
                report.stopped = f"{len(kept)} candidates left in the NROY space for wave {k}"
                break
            unit = maximin_subset(kept, method.points)
        values = from_unit(unit, params)
        unit = to_unit(values, params)
        store = settings.out / f"wave_{k}"
        # Every wave's replicate i shares one seed (common random numbers).
        experiment = plan.experiment(
            f"{spec.name}-wave{k}", values, spec.run.replicates, method.seed
        )
        runs = _run(plan, settings, store, experiment, report, progress)
        matrices = {n: _matrix(runs, cal.targets[n], n, cal) for n in names}
        seed = _seed(method.seed, EMULATOR, k)
        last = {n: fit_emulator(unit, matrices[n], seed) for n in names}
        waves.append(Wave(tuple(last[n] for n in fit_names), fit_obs))
        frame = pd.DataFrame(values, columns=plan.keys)
        frame.insert(0, "point", np.arange(len(values)))
        frame.insert(0, "wave", k)
        for n in names:
            frame[f"{n}.mean"] = matrices[n].mean(axis=1)
            frame[f"{n}.sd"] = matrices[n].std(axis=1, ddof=1)
        rows.append(frame)
        share = float(np.mean(nroy_measure(waves, share_sample, method.rule) <= method.cutoff))
        report.shares.append(share)
        report.waves = k
        if share == 0.0:
            report.stopped = "every parameter set ruled out"
            break
        if k > 1 and report.shares[-2] - share < method.min_shrink * report.shares[-2]:
            report.stopped = f"the NROY share shrank by less than {method.min_shrink:g}"
            break
    _finish(plan, settings, progress, report, waves, last, rows, share_sample)
    return report


def _finish(
    plan: _Plan,
    settings: CalibrationSettings,
    progress: Progress | None,
    report: CalibrationReport,
    waves: list[Wave],
    last: dict[str, Emulator],
    rows: list[pd.DataFrame],
    share_sample: np.ndarray,
) -> None:
    cal, spec, method = plan.cal, plan.spec, plan.spec.method
    params = plan.parameters
    names = list(cal.targets)
    fit_names = cal.fit_names
    fit_obs = [_observation(cal.targets[n]) for n in fit_names]
    measure = nroy_measure(waves, share_sample, method.rule)
    inside = measure <= method.cutoff
    nroy_unit = share_sample[inside]
    # The best point: the lowest implausibility under the last (most accurate) wave's
    # emulators, among the parameter sets no wave rules out; every set if none is left.
    pool = nroy_unit if len(nroy_unit) else share_sample
    last_fit = [last[n] for n in fit_names]
    best_measure = rule_measure(implausibility(last_fit, fit_obs, pool), "max")
    best_unit = pool[int(np.argmin(best_measure))]
    best_values = from_unit(best_unit[None, :], params)[0]
    # Rounded as the overlay writes it, and kept inside the bounds (0.99951 would round
    # to 1.0, past a bound the scenario may refuse).
    best = {
        key: min(max(round_value(float(v), p.integer), p.bounds[0]), p.bounds[1])
        for key, v, p in zip(plan.keys, best_values, params, strict=True)
    }
    report.best = best
    report.nroy_size = int(inside.sum())
    # NROY sets, with their implausibility and what the last emulators expect of them.
    nroy = pd.DataFrame(from_unit(nroy_unit, params), columns=plan.keys)
    nroy["implausibility"] = measure[inside]
    expected = {n: last[n].predict(nroy_unit)[0] if len(nroy_unit) else np.array([]) for n in names}
    for n in names:
        nroy[f"{n}.expected"] = expected[n]
    write_parquet(nroy, settings.out / "nroy.parquet")
    # Every point run, with whether the final NROY space holds it.
    table = pd.concat(rows, ignore_index=True)
    run_unit = to_unit(table[plan.keys].to_numpy(dtype=float), params)
    run_measure = nroy_measure(waves, run_unit, method.rule)
    table["implausibility"] = run_measure
    table["nroy"] = run_measure <= method.cutoff
    write_parquet(table, settings.out / "waves.parquet")
    # The best point, rounded as the overlay writes it, re-run with more replicates on
    # seeds of its own: it was chosen where the waves' runs (their seeds' luck, shared
    # by every point) matched the targets, and the same seeds would repeat that luck
    # and flatter the fit.
    values = np.array([[float(best[k]) for k in plan.keys]])
    experiment = plan.experiment(
        f"{spec.name}-best", values, method.best_replicates, _seed(method.seed, BEST)
    )
    runs = _run(plan, settings, settings.out / "best", experiment, report, progress)
    fit_rows = []
    for n in names:
        target = cal.targets[n]
        sample = _matrix(runs, target, n, cal)[0]
        mean, sd, r = float(sample.mean()), float(sample.std(ddof=1)), len(sample)
        # 95 % intervals with Student's t on r - 1 degrees of freedom: of the mean
        # (sd / sqrt(r)), and of one more run (sd * sqrt(1 + 1 / r), a prediction
        # interval). Quantiles of 10 runs would only be their minimum and maximum.
        t95 = float(stats.t.ppf(0.975, r - 1))
        half = t95 * sd / np.sqrt(r)
        run_half = t95 * sd * np.sqrt(1.0 + 1.0 / r)
        sim_low, sim_high = target.interval(mean, half)  # a share's stay within [0, 1]
        run_low, run_high = target.interval(mean, run_half)
        low, high = target.bounds
        var = target.obs_var + target.discrepancy_sd**2 + sd**2 / r
        fit_rows.append(
            {
                "target": n,
                "use": target.use,
                "output": target.output,
                "observed": target.observed,
                "low": low,
                "high": high,
                "sim_mean": mean,
                "sim_low": sim_low,
                "sim_high": sim_high,
                "run_low": run_low,
                "run_high": run_high,
                "nroy_low": float(np.quantile(expected[n], 0.025)) if len(nroy_unit) else None,
                "nroy_high": float(np.quantile(expected[n], 0.975)) if len(nroy_unit) else None,
                "implausibility": abs(target.observed - mean) / float(np.sqrt(var)),
                "in_range": bool(low <= mean <= high),
                "replicates": r,
            }
        )
    fit = pd.DataFrame(fit_rows)
    report.fit = fit
    out = settings.out
    write_text(out / "fit.csv", fit.to_csv(index=False))
    info = {
        "command": settings.command,
        "waves": report.waves,
        "stopped": report.stopped,
        "runs": report.runs_done + report.runs_reused,
        "days": spec.run.days,
        "warmup_days": spec.run.warmup_days,
        "replicates": spec.run.replicates,
        "best_replicates": method.best_replicates,
        "shares": report.shares,
        "best": best,
    }
    write_text(out / "fit.md", fit_markdown(cal, fit, info))
    write_text(out / "overlay.yaml", overlay_text(cal, best, out, settings.command))
    fit_figure(fit, out / "fit.png", f"Calibration {spec.name}: targets against simulated")
