"""Effect sizes against evidence: run the published designs, compare, write the report.

``secsim evidence`` runs each experiment of ``experiments/evidence/`` (a
published design reproduced on the baseline city, with an ``evidence:`` block,
see :mod:`simulator.batch.evidence_spec`) through the batch machinery, with
paired replicates sharing their seeds, computes the estimates the block names
(:mod:`simulator.batch.effects`) and writes the report (``docs/evidence.md``, the
published one, from the full run of every design; the command line sends a quick
run's, or a full run of some designs, elsewhere): for each design its source, each
target, the simulated estimate with its 95 % interval, and whether it falls in
range; then what the model predicts for effects it is not tuned to.

Estimates of offences in a place (the hot spots a patrol targets, the ring
around them) are counted in the runs' incident records; the others come from
the runs' summaries. The batch stores are kept in the output folder, one per
experiment, mode and version of the experiment and code, so a second call reuses
finished runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import ndimage

from simulator.batch.analysis import analyze, arm_means, paired_differences
from simulator.batch.effects import (
    NOT_ESTIMABLE,
    Interval,
    displacement_quotient,
    elasticity,
    elasticity_gap,
    fieller,
    flattening,
    pairing_ratio,
    relative_change,
)
from simulator.batch.evidence_spec import EstimateSpec, EvidenceSpec, TargetRange
from simulator.batch.runner import BatchReport, experiment_identity, replicate_seeds, run_batch
from simulator.batch.spec import (
    ExperimentSpec,
    arm_overrides,
    arm_scenario_path,
    load_experiment,
    output_problem,
    outputs_shape,
)
from simulator.crime.engine import cctv_coverage
from simulator.model import SecurityModel
from simulator.outputs import OutputError, claim, mark, write_failed, write_text_atomically
from simulator.records.metrics import window_offences
from simulator.runner import code_version
from simulator.scenario import load_scenario
from simulator.scenario.errors import Problem, ScenarioError
from simulator.scenario.loader import Positions, read_yaml
from simulator.scenario.schema import Scenario

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

OUTPUT_KIND = "evidence"
# The shipped designs in report order (others follow, by name).
SHIPPED_ORDER = ("police_numbers", "hot_spots", "dwell_time", "untuned")
# The first line of the report: what says secsim wrote it (and may replace it).
DOC_MARKER = "<!-- written by `secsim evidence`: do not edit, run it again -->"
# Permutations of the offence times that give the expected count of a Knox test.
KNOX_PERMUTATIONS = 19
TABLE_COLUMNS = (
    "estimate",
    "target",
    "simulated (95 % interval)",
    "pairs",
    "verdict",
    "means (reference -> arm)",
)
INCIDENT_COLUMNS = ["kind", "type", "cell", "t_occurred_h", "known", "arrest"]


@dataclass(frozen=True)
class Design:
    """An experiment of experiments/evidence/, checked."""

    path: Path
    spec: ExperimentSpec
    evidence: EvidenceSpec


@dataclass(frozen=True)
class EstimateResult:
    """One estimate of one design against its target."""

    design: str
    name: str
    label: str
    interval: Interval
    target: TargetRange | None
    detail: str
    note: str = ""

    @property
    def verdict(self) -> str:
        """``in range``, ``out of range``, ``not estimable`` or ``prediction`` (no target)."""
        if self.target is None:
            return "prediction"
        i = self.interval
        if not i.estimable or (math.isinf(i.low) and math.isinf(i.high)):
            return "not estimable"  # an unbounded interval: the point estimate means nothing
        return "in range" if self.target.holds(self.interval.value) else "out of range"

    @property
    def interval_inside(self) -> bool:
        """Whether the whole 95 % interval lies in the target range."""
        i = self.interval
        return (
            self.target is not None
            and i.estimable
            and math.isfinite(i.low)
            and math.isfinite(i.high)
            and self.target.holds(i.low)
            and self.target.holds(i.high)
        )


@dataclass(frozen=True)
class EvidenceSettings:
    """What ``secsim evidence`` runs and where it writes.

    Attributes:
        files: The experiment files, in report order.
        out: The folder holding the batch stores and estimates.csv.
        doc: The report (a Markdown file).
        full: The experiment files' own replicates and horizons (else their quick block).
        workers: Local worker processes.
        command: The command line, quoted in the report.
    """

    files: list[Path]
    out: Path
    doc: Path
    full: bool = False
    workers: int = 1
    command: str = "secsim evidence"


@dataclass
class EvidenceReport:
    """What a call produced."""

    results: list[EstimateResult] = field(default_factory=list)
    runs_done: int = 0
    runs_reused: int = 0

    @property
    def out_of_range(self) -> list[EstimateResult]:
        """Estimates with a target that they miss (or cannot be computed)."""
        return [r for r in self.results if r.verdict in ("out of range", "not estimable")]


# ----------------------------------------------------------------- loading


def shipped_designs(folder: Path) -> list[Path]:
    """The experiment files of a folder, in report order: the shipped ones first."""
    rank = {name: i for i, name in enumerate(SHIPPED_ORDER)}
    files = sorted(folder.glob("*.yaml"))
    return sorted(files, key=lambda p: (rank.get(p.stem, len(rank)), p.name))


def load_design(path: Path) -> Design:
    """Read an experiment of experiments/evidence/ and check its ``evidence:`` block.

    Raises:
        ScenarioError: With every problem, each with file, line and key.
    """
    spec = load_experiment(path)
    pos = Positions(str(path))
    read_yaml(path, pos)
    if spec.evidence is None:
        raise ScenarioError(
            [
                Problem(
                    str(path),
                    None,
                    None,
                    ("evidence",),
                    "no evidence: block; secsim evidence runs experiments that name their "
                    "source, estimates and targets (see experiments/evidence/)",
                )
            ],
            what="experiment",
        )
    problems = _cross_references(spec, spec.evidence, path)
    if problems:
        raise ScenarioError(
            [Problem(*pos.find(p.path), p.path, p.message) for p in problems], what="experiment"
        )
    return Design(path, spec, spec.evidence)


def _cross_references(spec: ExperimentSpec, ev: EvidenceSpec, path: Path) -> list[Problem]:
    """Names the block uses that the experiment or its scenarios do not define."""
    problems: list[Problem] = []

    def bad(at: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(str(path), None, None, ("evidence", *at), message))

    if spec.design.kind != "none":
        # Estimates compare arms replicate by replicate; design points would each be a
        # comparison of their own (batch.analysis.paired_differences), which they do not name.
        problems.append(
            Problem(
                str(path),
                None,
                None,
                ("design", "kind"),
                "an evidence experiment compares arms: it takes no design (give each "
                "setting compared as an arm)",
            )
        )
    arms = list(spec.arms)
    # Each arm's scenario, once (load_experiment found them all valid).
    scenarios = {name: _arm_scenario(spec, path, name) for name in arms}
    reference = scenarios[spec.reference_arm]
    types = sorted(reference.crime.types) if reference.crime is not None else []
    for group, members in ev.groups.items():
        for i, member in enumerate(members):
            if member not in types:
                bad(("groups", group, i), f"'{member}' is not an offence type ({', '.join(types)})")
    offence_names = ["all", *ev.groups, *types]

    def arm_ok(at: tuple[str | int, ...], name: str | None) -> None:
        if name is not None and name not in arms:
            bad(at, f"unknown arm '{name}' (arms: {', '.join(arms)})")

    for name, place in ev.places.items():
        arm_ok(("places", name, "arm"), place.arm)
        if place.around is not None and place.around not in ev.places:
            bad(("places", name, "around"), f"unknown place '{place.around}'")
        elif place.around is not None and ev.places[place.around].kind == "ring":
            bad(("places", name, "around"), "a ring must surround a place that is not a ring")
        arm_scenario = scenarios.get(place.arm or spec.reference_arm)  # none: an unknown arm
        known = [] if arm_scenario is None else list(arm_scenario.agencies)
        if place.agency is not None and arm_scenario is not None and place.agency not in known:
            bad(
                ("places", name, "agency"),
                f"unknown agency '{place.agency}' (agencies: {', '.join(known)})",
            )
    # Doses and outputs are checked by name against the arms' scenarios, as outputs are.
    shape = outputs_shape(scenarios.values())
    for name, est in ev.estimates.items():
        at = ("estimates", name)
        arm_ok((*at, "arm"), est.arm)
        arm_ok((*at, "reference"), est.reference)
        for i, arm in enumerate(est.arms or []):
            arm_ok((*at, "arms", i), arm)
        for what in (est.place, est.over):
            if what is not None and what not in ev.places:
                bad(at, f"unknown place '{what}' (places: {', '.join(ev.places) or 'none'})")
        for offence in est.offence_names():
            if offence not in offence_names:
                bad(
                    (*at, "offences"),
                    f"'{offence}' is neither all, a group ({', '.join(ev.groups) or 'none'}) "
                    f"nor an offence type ({', '.join(types)})",
                )
        for field_name, key in (("dose", est.dose), ("output", est.output)):
            wrong = output_problem(key, shape) if key is not None else None
            if wrong is not None:
                bad((*at, field_name), wrong)
        counted_in_incidents = (
            est.place is not None or est.only == "arrested" or est.kind == "near_repeat"
        )
        if counted_in_incidents and not spec.keep_incidents:
            bad(at, "counts offences in the incident records: set keep_incidents: true")
    return problems


def _arm_scenario(spec: ExperimentSpec, path: Path, arm: str) -> Scenario:
    return load_scenario(
        arm_scenario_path(path, spec.arms[arm]), arm_overrides(spec, spec.arms[arm], {})
    )


def sized(design: Design, full: bool) -> ExperimentSpec:
    """The experiment as run: its own replicates and horizon, or its quick block."""
    if full:
        return design.spec
    quick = design.evidence.quick
    return design.spec.model_copy(
        update={
            "replicates": quick.replicates,
            "days": quick.days,
            "warmup_days": quick.warmup_days,
        }
    )


# ----------------------------------------------------------------- counting


class Places:
    """The cells of an experiment's places, read from the arms' models as built (not run).

    A patrol's cells are those its strategy holds in the built model, so they are the
    cells it patrols, whatever rule the strategy uses to choose them.
    """

    def __init__(self, design: Design, spec: ExperimentSpec):
        self._design = design
        self._spec = spec
        self._models: dict[str, SecurityModel] = {}
        self._places: dict[str, BoolArray] = {}

    def model(self, arm: str) -> SecurityModel:
        """The arm's model as built (not run): where its patrols, sites and cameras are."""
        if arm not in self._models:
            scenario = _arm_scenario(self._spec, self._design.path, arm)
            seed = replicate_seeds(self._spec.seed, 1)[0]
            self._models[arm] = SecurityModel(scenario, seed=seed)
        return self._models[arm]

    def cells(self, name: str) -> BoolArray:
        """The cells of a place, as a mask over the territory's cells."""
        if name in self._places:
            return self._places[name]
        spec = self._design.evidence.places[name]
        arm = spec.arm or self._spec.reference_arm
        model = self.model(arm)
        t = model.territory
        mask = np.zeros(t.n_cells, dtype=bool)
        if spec.kind == "ring":
            base = self.cells(spec.around or "").reshape(t.ny, t.nx)
            near, far = spec.distance_cells
            outer = ndimage.maximum_filter(base, size=2 * far + 1, mode="constant")
            inner = ndimage.maximum_filter(base, size=2 * near - 1, mode="constant")
            mask = (outer & ~inner).reshape(-1) & t.land
        elif spec.kind == "patrolled":
            strategies = model.fleet.derived_settings()[spec.agency or ""]["patrol"]
            cells = [c for s in strategies for c in s.get("_cells", [])]
            if not cells:
                raise ScenarioError(
                    [
                        Problem(
                            str(self._design.path),
                            None,
                            None,
                            ("evidence", "places", name),
                            f"the patrol of '{spec.agency}' in arm '{arm}' visits no cells "
                            "(a static patrol waits at the station)",
                        )
                    ],
                    what="experiment",
                )
            mask[np.asarray(cells, dtype=np.int64)] = True
        elif spec.kind == "sites":
            agency = next(a for a in model.agencies if a.name == spec.agency)
            mask[agency.site_cells] = True
        else:
            mask = cctv_coverage(t, model.spec.cctv) > 0
        self._places[name] = mask
        return mask


class Counts:
    """Per-replicate counts of one experiment's runs, from summaries or incident records."""

    def __init__(self, design: Design, spec: ExperimentSpec, store: Path):
        self._design = design
        self._spec = spec
        self._store = store
        self.runs = pd.read_parquet(store / "summaries.parquet")
        self._window = (spec.warmup_days * 24.0, (spec.warmup_days + spec.days) * 24.0)
        self.places = Places(design, spec)
        self._incidents: dict[str, pd.DataFrame] = {}

    def place(self, name: str) -> BoolArray:
        """The cells of a place (see :class:`Places`)."""
        return self.places.cells(name)

    def model(self, arm: str) -> SecurityModel:
        """The arm's model as built (see :class:`Places`)."""
        return self.places.model(arm)

    # counts

    def _types(self, offences: str) -> list[str] | None:
        if offences == "all":
            return None
        return self._design.evidence.groups.get(offences, [offences])

    def offences_of(self, run_id: str) -> pd.DataFrame:
        """The run's offences inside the statistics window, with a ``recorded`` flag."""
        if run_id not in self._incidents:
            path = self._store / "incidents" / f"{run_id}.parquet"
            table = pd.read_parquet(path)
            columns = [c for c in INCIDENT_COLUMNS if c in table.columns]
            self._incidents[run_id] = window_offences(table[columns], self._window)
        return self._incidents[run_id]

    def _arm_runs(self, arm: str) -> pd.DataFrame:
        rows = self.runs[(self.runs["arm"] == arm) & (self.runs["point"] == 0)]
        return rows.sort_values("replicate").set_index("replicate")

    def output(self, arm: str, key: str) -> pd.Series:
        """A summary value of each replicate of the arm."""
        rows = self._arm_runs(arm)
        if key not in rows:
            return pd.Series(np.nan, index=rows.index)
        return rows[key].astype(float)

    def offences(self, arm: str, est: EstimateSpec, offences: str, place: str | None) -> pd.Series:
        """Offences of each replicate of the arm, by the estimate's rule of counting."""
        rows = self._arm_runs(arm)
        types = self._types(offences)
        if place is None and est.only != "arrested":
            if types is None:
                return rows[f"offences.{est.only}"].astype(float)
            columns = [f"offences.by_type.{t}.{est.only}" for t in types]
            present = [c for c in columns if c in rows]
            return rows[present].fillna(0).sum(axis=1).astype(float)
        mask = self.place(place) if place is not None else None
        values = []
        for run_id in rows["run_id"]:
            off = self.offences_of(str(run_id))
            keep = np.ones(len(off), dtype=bool)
            if types is not None:
                keep &= off["type"].isin(types).to_numpy()
            if mask is not None:
                keep &= mask[off["cell"].to_numpy()]
            if est.only == "recorded":
                keep &= off["recorded"].to_numpy(dtype=bool)
            elif est.only == "arrested":
                if "arrest" not in off:
                    values.append(np.nan)
                    continue
                keep &= off["arrest"].fillna(False).to_numpy(dtype=bool)
            values.append(float(keep.sum()))
        return pd.Series(values, index=rows.index, dtype=float)


def _aligned(*series: pd.Series) -> list[NDArray[np.float64]]:
    """The values of replicates present in every series, in replicate order."""
    common = series[0].index
    for s in series[1:]:
        common = common.intersection(s.index)
    return [s.loc[common].to_numpy(dtype=float) for s in series]


def _mean(values: NDArray[np.float64]) -> str:
    return f"{float(np.nanmean(values)):,.1f}" if values.size else "-"


# ----------------------------------------------------------------- estimates


def estimate(design: Design, counts: Counts, name: str) -> list[EstimateResult]:
    """The estimate ``name`` of a design (several rows for a near-repeat curve)."""
    spec, est = counts._spec, design.evidence.estimates[name]
    ref = est.reference or spec.reference_arm
    kind = est.kind

    def result(interval: Interval, detail: str, label: str = est.label) -> EstimateResult:
        return EstimateResult(spec.name, name, label, interval, est.target, detail, est.note)

    if kind == "near_repeat":
        return _near_repeat(design, counts, name, ref)
    if kind == "difference":
        assert est.output is not None and est.arm is not None
        frame = counts.runs[counts.runs["arm"].isin([est.arm, ref])]
        diffs = paired_differences(frame, [est.output], ref)
        if diffs.empty:
            return [result(NOT_ESTIMABLE, "fewer than two pairs")]
        row = diffs.iloc[0]
        t, r = _aligned(counts.output(est.arm, est.output), counts.output(ref, est.output))
        interval = Interval(
            float(row["difference"]),
            float(row["ci_low"]),
            float(row["ci_high"]),
            int(row["n_pairs"]),
        )
        return [result(interval, f"{_mean(r)} -> {_mean(t)}")]
    if kind == "flattening":
        short, middle, long = est.arms or []
        series = [
            counts.offences(a, est, est.offence_names()[0], est.place)
            for a in (short, middle, long)
        ]
        s, m, lo = _aligned(*series)
        detail = f"{short} {_mean(s)}, {middle} {_mean(m)}, {long} {_mean(lo)}"
        return [result(flattening(s, m, lo), detail)]
    if kind == "share":
        arm = est.arm or ref
        group = est.offence_names()[0]
        inside, everywhere = _aligned(
            counts.offences(arm, est, group, est.place), counts.offences(arm, est, group, None)
        )
        return [result(fieller(inside, everywhere), f"{_mean(inside)} of {_mean(everywhere)}")]
    assert est.arm is not None
    if kind == "displacement_quotient":
        assert est.place is not None and est.over is not None
        group = est.offence_names()[0]
        rt, rc, tt, tc = _aligned(
            counts.offences(est.arm, est, group, est.place),
            counts.offences(ref, est, group, est.place),
            counts.offences(est.arm, est, group, est.over),
            counts.offences(ref, est, group, est.over),
        )
        detail = f"{est.over} {_mean(tc)} -> {_mean(tt)}, {est.place} {_mean(rc)} -> {_mean(rt)}"
        return [result(displacement_quotient(rt, rc, tt, tc), detail)]
    if kind == "pairing":
        group = est.offence_names()[0]
        t, r = _aligned(
            counts.offences(est.arm, est, group, est.place),
            counts.offences(ref, est, group, est.place),
        )
        return [result(pairing_ratio(t, r), f"{_mean(r)} -> {_mean(t)}")]
    if kind == "change":
        group = est.offence_names()[0]
        t, r = _aligned(
            counts.offences(est.arm, est, group, est.place),
            counts.offences(ref, est, group, est.place),
        )
        return [result(relative_change(t, r), f"{_mean(r)} -> {_mean(t)}")]
    assert est.dose is not None
    xt, xr = counts.output(est.arm, est.dose), counts.output(ref, est.dose)
    if kind == "elasticity":
        group = est.offence_names()[0]
        t, r, dt, dr = _aligned(
            counts.offences(est.arm, est, group, est.place),
            counts.offences(ref, est, group, est.place),
            xt,
            xr,
        )
        detail = f"offences {_mean(r)} -> {_mean(t)}; {est.dose} {_mean(dr)} -> {_mean(dt)}"
        return [result(elasticity(t, r, dt, dr), detail)]
    first, second = est.offence_names()
    at, ar, bt, br, dt, dr = _aligned(
        counts.offences(est.arm, est, first, est.place),
        counts.offences(ref, est, first, est.place),
        counts.offences(est.arm, est, second, est.place),
        counts.offences(ref, est, second, est.place),
        xt,
        xr,
    )
    detail = f"{first} {_mean(ar)} -> {_mean(at)}; {second} {_mean(br)} -> {_mean(bt)}"
    return [result(elasticity_gap((at, ar), (bt, br), (dt, dr)), detail)]


def knox_ratios(
    cells: IntArray, times_h: NDArray[np.float64], nx: int, bands_days: list[float], seed: int
) -> list[float]:
    """Knox ratios of offences close in space (within one cell) by time band.

    Observed pairs at most one cell apart (Chebyshev) whose times differ by a
    band's span, over the mean of the same count with the times permuted
    (``KNOX_PERMUTATIONS`` times): above 1, offences near in space follow each
    other in time more than chance (near repeats; Johnson and Bowers 2004).
    """
    x, y = cells % nx, cells // nx
    close = (np.abs(x[:, None] - x[None, :]) <= 1) & (np.abs(y[:, None] - y[None, :]) <= 1)
    np.fill_diagonal(close, False)
    edges = np.asarray(bands_days, dtype=float) * 24.0

    def counts(times: NDArray[np.float64]) -> NDArray[np.float64]:
        gaps = np.abs(times[:, None] - times[None, :])[close]
        return np.histogram(gaps, bins=edges)[0].astype(float)

    observed = counts(times_h)
    rng = np.random.default_rng(seed)
    expected = np.mean([counts(rng.permutation(times_h)) for _ in range(KNOX_PERMUTATIONS)], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, observed / expected, np.nan)
    return [float(v) for v in ratio]


def _near_repeat(design: Design, counts: Counts, name: str, ref: str) -> list[EstimateResult]:
    est = design.evidence.estimates[name]
    types = counts._types(est.offence_names()[0])
    nx = counts.model(ref).territory.nx
    bands = est.bands_days
    rows = []
    for replicate, run in counts._arm_runs(ref).iterrows():
        off = counts.offences_of(str(run["run_id"]))
        if types is not None:
            off = off[off["type"].isin(types)]
        ratios = knox_ratios(
            off["cell"].to_numpy(dtype=np.int64),
            off["t_occurred_h"].to_numpy(dtype=float),
            nx,
            bands,
            seed=int(replicate),
        )
        rows.append(
            {"arm": ref, "point": 0, "replicate": replicate}
            | {f"band{k}": v for k, v in enumerate(ratios)}
        )
    frame = pd.DataFrame(rows)
    outputs = [f"band{k}" for k in range(len(bands) - 1)]
    means = arm_means(frame, outputs).set_index("output")
    results = []
    for k, output in enumerate(outputs):
        row = means.loc[output]
        n = int(frame[output].notna().sum())
        interval = Interval(float(row["mean"]), float(row["ci_low"]), float(row["ci_high"]), n)
        label = f"{est.label}, {bands[k]:g} to {bands[k + 1]:g} days"
        results.append(
            EstimateResult(
                counts._spec.name,
                f"{name}[{k}]",
                label,
                interval,
                est.target,
                "Knox ratio",
                est.note,
            )
        )
    return results


# ----------------------------------------------------------------- running


def store_path(settings: EvidenceSettings, design: Design, spec: ExperimentSpec) -> Path:
    """The batch store of one experiment, named by its version (settings, scenarios, code)."""
    identity = json.dumps(experiment_identity(spec, design.path), sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    mode = "full" if settings.full else "quick"
    return settings.out / f"{spec.name}-{mode}-{digest}"


def run_evidence(
    settings: EvidenceSettings,
    progress: Callable[[str, int, int], None] | None = None,
) -> EvidenceReport:
    """Run every design (what is missing), compute the estimates, write the report.

    Args:
        settings: What to run, and where to write.
        progress: Called with (experiment name, runs finished, runs planned).

    Raises:
        ScenarioError: An experiment file is wrong (nothing is run or written).
        OutputError: The output folder or the report is refused, or a write failed.
    """
    designs = [load_design(path) for path in settings.files]  # every file checked first
    version = code_version()  # the code that runs, even if a commit lands meanwhile
    claim(settings.out, OUTPUT_KIND)
    _claim_doc(settings.doc)
    try:
        settings.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failed(exc, settings.out) from None
    mark(settings.out, OUTPUT_KIND)
    report = EvidenceReport()
    sections = []
    for design in designs:
        spec = sized(design, settings.full)
        store = store_path(settings, design, spec)
        total = len(spec.arms) * spec.replicates

        def advance(batch: BatchReport, name: str = spec.name, total: int = total) -> None:
            if progress is not None:
                progress(name, batch.skipped + batch.done + batch.failed, total)

        if progress is not None:
            progress(spec.name, 0, total)
        batch = run_batch(
            spec, design.path, store, workers=settings.workers, resume=True, progress=advance
        )
        if batch.failed:
            first = next(iter(batch.errors.items()))
            raise OutputError(
                store, f"{batch.failed} runs failed (first: {first[0]}: {first[1]})", 1
            )
        report.runs_done += batch.done
        report.runs_reused += batch.skipped
        analysis = analyze(store)
        counts = Counts(design, spec, store)
        results = [r for name in design.evidence.estimates for r in estimate(design, counts, name)]
        report.results += results
        sections.append(_section(design, spec, store, results, analysis.arms))
    frame = pd.DataFrame(
        [
            {
                "design": r.design,
                "estimate": r.name,
                "label": r.label,
                "value": r.interval.value,
                "ci_low": r.interval.low,
                "ci_high": r.interval.high,
                "n_pairs": r.interval.n,
                "target_low": None if r.target is None else r.target.low,
                "target_high": None if r.target is None else r.target.high,
                "verdict": r.verdict,
            }
            for r in report.results
        ]
    )
    write_text_atomically(settings.out / "estimates.csv", frame.to_csv(index=False))
    text = _document(settings, designs, report, sections, version.get("git_commit"))
    _write_doc(settings.doc, text)
    return report


def _claim_doc(doc: Path) -> None:
    """Refuse a report path that holds a file secsim evidence did not write."""
    if doc.is_dir():
        raise OutputError(doc, "refused: this is a folder; --doc names a Markdown file")
    if doc.exists():
        try:
            first = doc.read_text(encoding="utf-8").split("\n", 1)[0]
        except (OSError, UnicodeDecodeError):
            first = ""
        if first.strip() != DOC_MARKER:
            raise OutputError(
                doc,
                "refused: this file was not written by secsim evidence (its first line is not "
                "the marker); choose another --doc",
            )


def _write_doc(doc: Path, text: str) -> None:
    _claim_doc(doc)  # nobody wrote there meanwhile
    try:
        doc.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failed(exc, doc) from None
    write_text_atomically(doc, text)


# ----------------------------------------------------------------- the report


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return f"{value:+.3f}" if abs(value) < 100 else f"{value:+,.0f}"


def _interval_text(i: Interval) -> str:
    if not i.estimable:
        return "not estimable"
    if math.isnan(i.low):
        return f"{_number(i.value)} (no interval)"
    return f"{_number(i.value)} ({_number(i.low)} to {_number(i.high)})"


def _verdict_text(r: EstimateResult) -> str:
    if r.verdict == "in range":
        return "**in range**" + (" (whole interval)" if r.interval_inside else "")
    return r.verdict


def _table(results: list[EstimateResult], *, with_design: bool = False) -> str:
    columns = ("design", *TABLE_COLUMNS) if with_design else TABLE_COLUMNS
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        target = "-" if r.target is None else r.target.text()
        first = f"| {r.design} " if with_design else ""
        lines.append(
            f"{first}| {r.label} | {target} | {_interval_text(r.interval)} | {r.interval.n} | "
            f"{_verdict_text(r)} | {r.detail} |"
        )
    return "\n".join(lines) + "\n"


def _arms_table(arms: pd.DataFrame) -> str:
    if arms.empty:
        return ""
    lines = ["| arm | output | mean | 95 % interval |", "|---|---|---|---|"]
    for row in arms.itertuples(index=False):
        low, high = float(row.ci_low), float(row.ci_high)
        ci = "" if math.isnan(low) else f"{low:,.2f} to {high:,.2f}"
        lines.append(f"| {row.arm} | `{row.output}` | {float(row.mean):,.2f} | {ci} |")
    return "\n".join(lines) + "\n"


def _section(
    design: Design,
    spec: ExperimentSpec,
    store: Path,
    results: list[EstimateResult],
    arms: pd.DataFrame,
) -> str:
    ev = design.evidence
    notes = [f"- *{r.label}*: {r.note}" for r in results if r.note and not r.name.endswith("]")]
    seen_near = {r.name.split("[")[0] for r in results if r.name.endswith("]") and r.note}
    notes += [f"- *{ev.estimates[n].label}*: {ev.estimates[n].note}" for n in sorted(seen_near)]
    rel = (
        os.path.relpath(design.path, Path.cwd()) if design.path.is_absolute() else str(design.path)
    )
    parts = [
        f"### {ev.title}\n",
        f"**Source.** {ev.source}\n",
        f"**Design.** {ev.design}\n" if ev.design else "",
        f"Experiment `{rel}`: {len(spec.arms)} arms x {spec.replicates} paired replicates, "
        f"{spec.days} days counted after {spec.warmup_days} warm-up days; runs in `{store}`.\n",
        _table(results),
    ]
    if ev.groups:
        groups = "; ".join(f"{g}: {', '.join(m)}" for g, m in ev.groups.items())
        parts.append(f"Groups of offence types (from the experiment file): {groups}.\n")
    if notes:
        parts.append("\n".join(notes) + "\n")
    parts += ["<details><summary>Arm means</summary>\n", _arms_table(arms), "</details>\n"]
    return "\n".join(p for p in parts if p)


METHOD = """\
## How the estimates are computed

Replicate i of every arm of an experiment shares its seed (common random numbers), so
each estimate is computed on pairs of runs, and its interval is a 95 % interval from
Student's t with n - 1 degrees of freedom over the n pairs (`simulator/batch/effects.py`).

- **Elasticity**: log(mean offences of the arm / mean of the reference) over log(mean
  officers of the arm / mean of the reference), officers as the summary reports them
  (`officers.state_police`). Interval by the delta method on the paired differences of the
  runs' values relative to their arm's mean (the influence of pair i is
  `Y_ti / mean(Y_t) - Y_ri / mean(Y_r)`), which counts the noise of both means and their
  correlation through the shared seed. The gap between two elasticities (violent minus
  property) is computed the same way from the difference of the two influences.
- **Relative change**: mean(arm) / mean(reference) - 1, interval by the delta method on the
  log ratio, mapped back.
- **Weighted displacement quotient** (Bowers and Johnson 2003): (ring offences in the
  treated arm - in the control arm) / (target offences in the treated arm - in the control
  arm). The control arm stands for the period before; both arms share time and seeds, so no
  control area is needed. Positive: the ring gained too (diffusion of benefits at least as
  large as displacement); negative: net displacement. Fieller's interval (unbounded when the
  change in the targets is not significant: the quotient is then not estimable).
- **Share** of offences in a place: mean offences there / mean offences everywhere, in
  the same runs; Fieller's interval.
- **Flattening** of a dose curve: (Y_middle - Y_long) / (Y_short - Y_long), the share of
  the change from the shortest to the longest stop that comes after the middle one;
  Fieller's interval.
- **Knox ratios** (near repeats): pairs of offences at most one cell apart whose times
  differ by the band's span, over the mean count with the times permuted 19 times; mean
  and t interval over the replicates of the reference arm.
- **Verdict**: *in range* when the point estimate lies in the target range ("whole
  interval" when its 95 % interval does too); `secsim evidence --check` exits with status 1
  when any target is out of range or not estimable.
"""


def _document(
    settings: EvidenceSettings,
    designs: list[Design],
    report: EvidenceReport,
    sections: list[str],
    commit: str | None,
) -> str:
    commit = commit or "unknown (not a git checkout)"
    mode = "full" if settings.full else "quick"
    targets = [r for r in report.results if r.target is not None]
    met = [r for r in targets if r.verdict == "in range"]
    tuned = [s for d, s in zip(designs, sections, strict=True) if d.evidence.tuned]
    untuned = [s for d, s in zip(designs, sections, strict=True) if not d.evidence.tuned]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        DOC_MARKER,
        "# Effect sizes against evidence\n",
        f"Written by `{settings.command}` ({mode} mode) at commit `{commit}`, {when}. "
        "Rebuild it with `make evidence` (`secsim evidence --full`, every design); a quick "
        "run (`secsim evidence`) writes `results/evidence-quick.md` instead.\n",
    ]
    if not settings.full:
        lines.append(
            "> **Quick mode**: few, short replicates (each experiment's `evidence.quick` "
            "block), so that the test suite can run it. Its intervals are wide and its "
            "verdicts are a smoke test of the pipeline, not evidence about the model: "
            "read the full mode's.\n"
        )
    lines += [
        "Each experiment of `experiments/evidence/` reproduces a published design on the "
        "baseline city, names its source and target range, and is run with paired "
        "replicates. The model's behavioural parameters are meant to be set so that the "
        "targets below hold (`docs/calibration.md`); the last part shows what the model "
        "predicts for effects it is not tuned to.\n",
        f"**{len(met)} of {len(targets)} targets in range.**\n",
        _table(targets, with_design=True) if targets else "",
        "## Targets\n",
        *tuned,
    ]
    if untuned:
        lines += [
            "## Effects the model is not tuned to\n",
            "What the model predicts, computed from runs; the published effects are "
            "named for comparison, not used to set anything.\n",
            *untuned,
        ]
    lines.append(METHOD)
    return "\n".join(line for line in lines if line)
