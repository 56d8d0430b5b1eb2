"""The dashboard page: Mesa's SolaraViz with the city map, live curves, agencies and Save.

Started by ``secsim dashboard`` (see :mod:`simulator.dashboard.server`), which
names the scenario file in ``SECSIM_DASHBOARD_SCENARIO``. The model class is
made once per server; each browser session builds its own model (a model at
module level would be shared by every visitor).

Plots are Matplotlib figures: Mesa's Altair components need vega from a CDN and
draw nothing offline. No Markdown component either: it loads KaTeX, which the
packaged front-end files do not include.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import solara
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from simulator.dashboard.compare import GROUPS, Comparison, compare, days_needed
from simulator.dashboard.model import DashboardModel, dashboard_model_class
from simulator.dashboard.results import StoreView, find_stores, open_store
from simulator.dashboard.view import city_view, clock
from simulator.scenario import ScenarioError, load_scenario
from simulator.scenario.schema import DistrictType

SCENARIO_ENV = "SECSIM_DASHBOARD_SCENARIO"
FIXED_ENV = "SECSIM_DASHBOARD_SET"  # overrides not offered as levers, separated by ";"

DISTRICT_COLOURS = {
    DistrictType.CITY_CENTRE: "#d9d9d9",
    DistrictType.RESIDENTIAL: "#e5f5e0",
    DistrictType.QPV: "#fdd0a2",
    DistrictType.COMMERCIAL: "#deebf7",
    DistrictType.NIGHTLIFE: "#e7d4e8",
    DistrictType.TRANSIT_HUB: "#fff7bc",
    DistrictType.INDUSTRIAL: "#bdbdbd",
    DistrictType.PERI_URBAN: "#f7fcf5",
}
AGENCY_COLOURS = ("#08519c", "#2ca02c", "#17becf", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
PRIORITY_COLOURS = {1: "#d62728", 2: "#ff7f0e", 3: "#bcbd22"}


def _model_class() -> type[DashboardModel]:
    path = os.environ.get(SCENARIO_ENV, "scenarios/baseline.yaml")
    fixed = tuple(s for s in os.environ.get(FIXED_ENV, "").split(";") if s)
    return dashboard_model_class(path, fixed)


MODEL_CLASS = _model_class()
MODEL_PARAMS: dict[str, Any] = {lever.name: lever.mesa_param() for lever in MODEL_CLASS.levers}


def _agency_colour(index: int) -> str:
    return AGENCY_COLOURS[index % len(AGENCY_COLOURS)]


def city_figure(model: DashboardModel) -> Figure:
    """The map: districts by type, communes, units, open incidents, markets, sites."""
    t = model.territory
    view = city_view(model)
    fig = Figure(figsize=(6.4, 6.0), layout="constrained")
    ax = fig.subplots()
    types = list(DistrictType)
    if t.nx > 1 and t.ny > 1:
        code = np.array([types.index(dt) for dt in t.district_types])[t.district]
        extent = (0.0, t.nx * t.cell_m, 0.0, t.ny * t.cell_m)
        ax.imshow(
            code.reshape(t.ny, t.nx),
            origin="lower",
            extent=extent,
            cmap=ListedColormap([DISTRICT_COLOURS[dt] for dt in types]),
            vmin=-0.5,
            vmax=len(types) - 0.5,
            interpolation="nearest",
        )
        ax.contour(
            t.x_m.reshape(t.ny, t.nx),
            t.y_m.reshape(t.ny, t.nx),
            t.commune.reshape(t.ny, t.nx),
            levels=np.arange(len(t.commune_names)) + 0.5,
            colors="#525252",
            linewidths=1.2,
        )
    for k, name in enumerate(t.commune_names):
        hall = int(t.town_hall_cell[k])
        ax.annotate(name, (t.x_m[hall], t.y_m[hall]), fontsize=8, color="#252525")
    if view.sites:
        cells = np.array(view.sites)
        ax.scatter(t.x_m[cells], t.y_m[cells], marker="s", s=14, c="#737373", label="guarded site")
    if view.markets:
        cells = np.array([c for c, _ in view.markets])
        size = np.array([30 + 60 * min(1.0, a) for _, a in view.markets])
        ax.scatter(t.x_m[cells], t.y_m[cells], marker="D", s=size, c="#6a3d9a", alpha=0.7)
    for p, colour in PRIORITY_COLOURS.items():
        pts = [(i.x_m, i.y_m) for i in view.incidents if i.priority == p]
        if pts:
            xy = np.array(pts)
            ax.scatter(xy[:, 0], xy[:, 1], marker="^", s=46, c=colour, edgecolors="black")
    for k, agency in enumerate(model.agencies):
        marks = [u for u in view.units if u.agency == agency.name]
        for busy in (False, True):
            xy = np.array([(u.x_m, u.y_m) for u in marks if u.busy == busy]).reshape(-1, 2)
            if len(xy):
                ax.scatter(
                    xy[:, 0],
                    xy[:, 1],
                    s=40 if busy else 22,
                    c=_agency_colour(k),
                    edgecolors="black" if busy else "white",
                    linewidths=1.5 if busy else 0.5,
                    marker="o",
                )
    ax.set_title(
        f"{clock(view.time_h)}: {len(view.units)} units on duty, "
        f"{len(view.incidents)} open incidents",
        fontsize=10,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    handles: list[Any] = [
        Line2D([], [], marker="o", ls="", color=_agency_colour(k), label=a.name)
        for k, a in enumerate(model.agencies)
    ]
    handles += [
        Line2D([], [], marker="o", ls="", mfc="white", mec="black", mew=1.5, label="busy unit"),
        *(
            Line2D([], [], marker="^", ls="", color=c, label=f"incident P{p}")
            for p, c in PRIORITY_COLOURS.items()
        ),
        Line2D([], [], marker="D", ls="", color="#6a3d9a", label="drug market"),
        Line2D([], [], marker="s", ls="", color="#737373", label="guarded site"),
        *(Patch(color=DISTRICT_COLOURS[dt], label=dt.value) for dt in types),
    ]
    ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def curves_figure(model: DashboardModel) -> Figure:
    """The live curves, one point per simulated hour."""
    r = model.readings
    hours = np.array([x.time_h for x in r]) / 24.0
    fig = Figure(figsize=(6.4, 6.0), layout="constrained")
    axes = fig.subplots(5, 1, sharex=True)
    ax = axes[0]
    ax.plot(hours, [x.response_mean_min for x in r], label="mean")
    ax.plot(hours, [x.response_p90_min for x in r], label="p90")
    ax.set_ylabel("response\nlast 24 h (min)", fontsize=7)
    ax.legend(fontsize=6, loc="upper left")
    axes[1].plot(hours, [x.waiting for x in r], color="#d62728")
    axes[1].set_ylabel("calls\nwaiting", fontsize=7)
    for k, agency in enumerate(model.agencies):
        axes[2].plot(
            hours,
            [x.utilisation.get(agency.name, math.nan) for x in r],
            color=_agency_colour(k),
            label=agency.name,
        )
    axes[2].set_ylabel("utilisation", fontsize=7)
    axes[2].set_ylim(0, 1.05)
    axes[2].legend(fontsize=6, loc="upper left", ncol=2)
    axes[3].plot(hours, [x.actual for x in r], label="actual")
    axes[3].plot(hours, [x.recorded for x in r], label="recorded")
    axes[3].set_ylabel("offences\nso far", fontsize=7)
    axes[3].legend(fontsize=6, loc="upper left")
    axes[4].plot(hours, [x.trust for x in r], color="#2ca02c")
    axes[4].set_ylabel("mean trust", fontsize=7)
    axes[4].ticklabel_format(axis="y", useOffset=False)
    axes[4].set_xlabel("day")
    for a in axes:
        a.tick_params(labelsize=7)
    return fig


@solara.component
def CityMap(model: DashboardModel) -> None:
    """The city, live."""
    update_counter.get()  # redrawn whenever Mesa's controller steps the model
    solara.FigureMatplotlib(city_figure(model), format="png")


@solara.component
def Curves(model: DashboardModel) -> None:
    """The live curves."""
    update_counter.get()
    solara.FigureMatplotlib(curves_figure(model), format="png")


@solara.component
def Agencies(model: DashboardModel) -> None:
    """What is in force: the clock, each agency's officers and units, problems, Save."""
    update_counter.get()
    view = city_view(model)
    holder: dict[str, Any] = solara.use_memo(dict, [])

    def finish(target: DashboardModel) -> None:
        # In the background, day by day, so the page stays responsive on a year's run.
        def progress(done: float, total: float) -> None:
            holder["task"].progress = 100.0 * done / total

        target.result(progress=progress)

    task = solara.lab.use_task(finish, dependencies=None)
    holder["task"] = task

    with solara.Column():
        solara.Text(f"Clock: {clock(model.time)}", classes=["secsim-clock"])
        if model.problem:
            solara.Error(f"The levers were refused, the original scenario runs: {model.problem}")
        for agency in model.agencies:
            solara.Text(
                f"{agency.name}: {view.officers[agency.name]:.0f} officers, "
                f"{view.on_duty[agency.name]} units on duty",
                classes=["secsim-agency"],
            )
        solara.Text(
            "Levers act on reset: move them, then press Reset. Save downloads the "
            "scenario being run, as a file that extends the original.",
        )
        summary = model.summary
        if summary is None and task.pending:
            solara.ProgressLinear(task.progress if task.progress is not None else True)
            solara.Text("Finishing the run...")
        elif summary is None:
            solara.Button(
                "Finish the run",
                on_click=lambda: task(model),
                color="primary",
                outlined=True,
            )
        else:
            response = summary["response_min"]
            solara.Text(
                f"Run finished: {summary['calls']['total']} calls, "
                f"{summary['calls']['answered']} answered, "
                f"mean response {response['mean']:.2f} min, p90 {response['p90']:.2f} min",
                classes=["secsim-result"],
            )
        if model.problem:
            solara.Text("Save is off while the levers are refused: mend them and reset.")
        else:
            solara.FileDownload(
                model.saved_yaml,
                filename=f"{model.base_path.stem}_edited.yaml",
                label="Save scenario (YAML)",
                mime_type="text/yaml",
            )


ORIGINAL = "original"
EDITED = "edited (levers in force)"
Choice = tuple[str, str, tuple[str, ...]]  # label, scenario file, overrides


def scenario_choices(model: DashboardModel) -> dict[str, Choice]:
    """What the Compare page may run: the original, the edited copy, the file's neighbours."""
    base = model.base_path
    fixed = model.fixed_sets
    choices: dict[str, Choice] = {ORIGINAL: (base.stem, str(base), fixed)}
    if not model.problem:  # refused levers: the edited copy would be the original
        choices[EDITED] = (f"{base.stem} edited", str(base), (*fixed, *model.sets))
    for path in sorted(base.parent.glob("*.yaml")):
        if path != base:
            choices[path.name] = (path.stem, str(path), fixed)
    return choices


def comparison_figure(result: Comparison) -> Figure:
    """A and B side by side with 95 % intervals, one panel per group of indicators."""
    table = result.table()
    fig = Figure(figsize=(9, 9), layout="constrained")
    axes = fig.subplots(len(GROUPS), 1)
    for ax, group in zip(axes, GROUPS, strict=True):
        part = table[table["indicator"].str.startswith(group + ":")]
        y = np.arange(len(part))
        for offset, label, colour in ((-0.18, "A", "#6baed6"), (0.18, "B", "#fd8d3c")):
            mean = part[label].to_numpy(dtype=float)
            low = mean - part[f"{label} low"].to_numpy(dtype=float)
            high = part[f"{label} high"].to_numpy(dtype=float) - mean
            err = np.nan_to_num(np.vstack([low, high]))
            name = result.names[0 if label == "A" else 1]
            ax.barh(y + offset, mean, height=0.36, xerr=err, color=colour, label=f"{label}: {name}")
        ax.set_yticks(y, [i.split(": ", 1)[1] for i in part["indicator"]], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(group, fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    axes[0].legend(fontsize=7, loc="lower right")
    return fig


def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3g}"


@solara.component
def ComparePanel(model: DashboardModel) -> None:
    """Compare two scenarios with paired replicates, in the background."""
    choices = scenario_choices(model)
    a_label, set_a = solara.use_state(ORIGINAL)
    b_label, set_b = solara.use_state(EDITED)
    if b_label not in choices:
        b_label = ORIGINAL
    days, set_days = solara.use_state(7)
    replicates, set_replicates = solara.use_state(5)
    holder: dict[str, Any] = solara.use_memo(dict, [])

    def work(a: Choice, b: Choice, days: int, replicates: int, seed: int) -> Comparison:
        # Each scenario keeps its warm-up (excluded from the figures), as `secsim run`.
        for label, path, sets in (a, b):
            needed = days_needed(load_scenario(path, list(sets)))
            if days < needed:
                raise ValueError(
                    f"{label}: its timeline has a change in force only after day {days} of "
                    f"the statistics; set the horizon to at least {needed} days"
                )
        horizon = (f"run.days={days}",)
        scenarios = [
            (label, load_scenario(path, [*sets, *horizon])) for label, path, sets in (a, b)
        ]

        def progress(done: int, total: int) -> None:
            holder["task"].progress = 100.0 * done / total

        return compare(
            scenarios[0], scenarios[1], replicates=replicates, root_seed=seed, progress=progress
        )

    task = solara.lab.use_task(work, dependencies=None)
    holder["task"] = task

    def start() -> None:
        task(choices[a_label], choices[b_label], days, replicates, model.seed)

    with solara.Column():
        solara.Text(
            "Compare runs both scenarios on the same seeds (replicate i of A and B share "
            "seed i), in the background, each with its warm-up (not counted); intervals "
            "are 95 %. B - A is paired by replicate: where its interval includes 0, the "
            "runs cannot tell the two apart (more replicates or days narrow it)."
        )
        if model.problem:
            solara.Warning(
                "The levers in force were refused (see the sidebar): the edited copy "
                "is not offered until they are mended."
            )
        with solara.Row():
            solara.Select("A", values=list(choices), value=a_label, on_value=set_a)
            solara.Select("B", values=list(choices), value=b_label, on_value=set_b)
        solara.SliderInt("Horizon (days)", value=days, on_value=set_days, min=1, max=365)
        solara.SliderInt("Replicates", value=replicates, on_value=set_replicates, min=3, max=20)
        solara.Button("Compare", on_click=start, color="primary", disabled=task.pending)
        if task.pending:
            solara.ProgressLinear(task.progress if task.progress is not None else True)
            solara.Text(f"Running {2 * replicates} runs of {days} days...")
        if task.error:
            exc = task.exception
            message = exc.render() if isinstance(exc, ScenarioError) else str(exc)
            solara.Error(f"The comparison failed: {message}")
        result = task.value if task.finished else None
        if result is not None:
            a, b = result.names
            solara.Text(
                f"Compared: A = {a}, B = {b}; {len(result.seeds)} paired replicates.",
                classes=["secsim-compared"],
            )
            solara.FigureMatplotlib(comparison_figure(result), format="png")
            for r in result.table().to_dict("records"):
                text = (
                    f"{r['indicator']}: A {_fmt(r['A'])} [{_fmt(r['A low'])}, "
                    f"{_fmt(r['A high'])}], B {_fmt(r['B'])} [{_fmt(r['B low'])}, "
                    f"{_fmt(r['B high'])}]"
                )
                if "B - A" in r and r["B - A"] == r["B - A"]:  # not NaN: an interval exists
                    text += (
                        f", B - A {_fmt(r['B - A'])} [{_fmt(r['B - A low'])}, "
                        f"{_fmt(r['B - A high'])}]: {r['verdict']}"
                    )
                solara.Text(text)


def store_figure(view: StoreView, output: str) -> Figure:
    """One output of a batch store: mean and 95 % interval of each arm (and point)."""
    part = view.arms[view.arms["output"] == output]
    labels = [
        f"{arm}" if len(part) == part["arm"].nunique() else f"{arm} / {point}"
        for arm, point in zip(part["arm"], part["point"], strict=True)
    ]
    fig = Figure(figsize=(7, 0.5 + 0.35 * max(len(part), 2)), layout="constrained")
    ax = fig.subplots()
    mean = part["mean"].to_numpy(dtype=float)
    err = np.nan_to_num(
        np.vstack(
            [
                mean - part["ci_low"].to_numpy(dtype=float),
                part["ci_high"].to_numpy(dtype=float) - mean,
            ]
        )
    )
    y = np.arange(len(part))
    ax.errorbar(mean, y, xerr=err, fmt="o", capsize=3)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(output, fontsize=8)
    ax.set_title(f"{view.name}: mean and 95 % interval over replicates", fontsize=9)
    return fig


@solara.component
def ResultsPanel(model: DashboardModel) -> None:
    """Open a batch store and browse its arms and figures (read-only)."""
    folder, set_folder = solara.use_state("results")
    stores = find_stores(Path(folder).expanduser())
    chosen, set_chosen = solara.use_state("")
    output, set_output = solara.use_state("")
    with solara.Column():
        solara.InputText(
            "Folder with batch results (secsim batch --out)", value=folder, on_value=set_folder
        )
        if not stores:
            solara.Text(f"No batch store (a folder with experiment.json) under {folder}.")
            return
        names = [str(s) for s in stores]
        current = chosen if chosen in names else names[0]
        solara.Select("Store", values=names, value=current, on_value=set_chosen)
        try:
            view = open_store(Path(current))
        except (OSError, ValueError, KeyError) as exc:
            solara.Error(f"{current} cannot be read: {exc}")
            return
        solara.Text(
            f"{view.name}: {view.runs} runs, reference arm {view.reference}. {view.description}",
            classes=["secsim-store"],
        )
        if view.outputs:
            shown = output if output in view.outputs else view.outputs[0]
            solara.Select("Output", values=list(view.outputs), value=shown, on_value=set_output)
            solara.FigureMatplotlib(store_figure(view, shown), format="png")
            diffs = view.differences[view.differences["output"] == shown]
            points = diffs["point"].nunique() > 1
            for row in diffs.itertuples(index=False):
                at = f" at point {row.point}" if points else ""
                solara.Text(
                    f"{row.arm} - {row.reference}{at}: {_fmt(row.difference)} "
                    f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}] (paired, 95 %): {row.verdict}"
                )
        for png in view.figures[:12]:
            solara.Text(str(png.relative_to(current)))
            solara.Image(png.read_bytes(), width="640px")


@solara.component
def Page() -> None:
    """One model per browser session, shown with Mesa's SolaraViz."""
    model = solara.use_memo(MODEL_CLASS, [])
    SolaraViz(
        model,
        components=[
            (CityMap, 0),
            (Curves, 0),
            (Agencies, 0),
            (ComparePanel, 1),
            (ResultsPanel, 2),
        ],
        model_params=MODEL_PARAMS,
        name=f"secsim: {model.original.name}",
        play_interval=300,
    )
