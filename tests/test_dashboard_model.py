"""The dashboard's model side, without a browser: looking does not change the run,
and the levers map to scenario keys that the loader accepts."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path

import pytest

from simulator import load_scenario, run, write_results
from simulator.batch.runner import run_batch
from simulator.batch.spec import load_experiment
from simulator.cli import main
from simulator.dashboard.compare import compare, days_needed, verdict
from simulator.dashboard.levers import Lever, levers_for, overrides
from simulator.dashboard.model import dashboard_model_class
from simulator.dashboard.results import find_stores, open_store
from simulator.dashboard.server import server_command
from simulator.dashboard.view import city_view, clock, reading
from simulator.model import SecurityModel
from simulator.runner import complete
from simulator.scenario import ScenarioError

from .conftest import SCENARIOS

FILES = ("incidents.parquet", "timeseries.parquet", "districts.parquet", "agencies.parquet")


def _without_timings(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    for key in ("runtime_s", "wall_time_s", "simulation_s"):
        data.pop(key, None)
    return data


def test_a_run_watched_every_half_hour_gives_the_same_bytes(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "baseline.yaml", ["run.days=3", "run.warmup_days=0"])
    unwatched = write_results(run(scenario, 5), tmp_path / "unwatched")

    started = time.perf_counter()
    model = SecurityModel(scenario, 5)
    seen_positions = set()
    busy_seen = 0
    for k in range(1, 2 * 72 + 1):
        model.run_until(k * 0.5)
        view = city_view(model)
        reading(model)
        seen_positions.update((u.x_m, u.y_m) for u in view.units)
        busy_seen += sum(u.busy for u in view.units)
    watched = write_results(complete(model, scenario, 5, started=started), tmp_path / "watched")

    # The watch saw the city move, so the equality below is not vacuous.
    assert len(seen_positions) > 100
    assert busy_seen > 0
    for name in FILES:
        assert (watched / name).read_bytes() == (unwatched / name).read_bytes(), name
    assert _without_timings(watched / "summary.json") == _without_timings(
        unwatched / "summary.json"
    )


def test_clock_reads_as_a_day_and_time() -> None:
    assert clock(0.0) == "day 1 (Mon) 00:00"
    assert clock(38.5) == "day 2 (Tue) 14:30"
    assert clock(24 * 7 + 23.999999) == "day 9 (Tue) 00:00"


# ----------------------------------------------------------------- levers


def _levers() -> tuple[Path, list[Lever]]:
    path = SCENARIOS / "baseline.yaml"
    return path, levers_for(load_scenario(path))


def test_levers_start_at_the_scenario_and_change_nothing_untouched() -> None:
    _, levers = _levers()
    by_name = {lever.name: lever for lever in levers}
    assert by_name["pm_centre__officers"].value == 85
    assert by_name["state_police__budget_keur"].value == 21_000
    assert by_name["securite_privee__units"].value == 2
    assert by_name["pm_centre__service_start"].value == 7
    assert by_name["competence__traffic"].value == "municipal_police, state_police"
    assert by_name["cctv__operators"].value == 2
    assert all(lever.label.endswith(")") for lever in levers)
    # Every lever's name is a keyword the dashboard model accepts; none is Mesa's own.
    assert all(lever.name.isidentifier() for lever in levers)
    assert not {"scenario", "rng"} & set(by_name)
    assert overrides(levers, {lever.name: lever.value for lever in levers}) == []


def test_each_lever_sets_its_key_and_the_loader_accepts_it() -> None:
    path, levers = _levers()
    chosen = {
        "pm_centre__officers": 170,
        "state_police__budget_keur": 25_000,
        "pm_nord__service_end": 23,
        "pm_est__patrol": "hotspot",
        "competence__noise": "municipal_police",
        "cctv_zone0__coverage": 0.8,
        "cctv__operators": 4,
        "citizens__watch_share": 0.05,
        "prevention__keur": 500,
        "seed": 9,
    }
    sets = overrides(levers, chosen)
    assert len(sets) == len(chosen)
    s = load_scenario(path, sets)
    assert s.agencies["pm_centre"].officers == 170
    assert s.agencies["state_police"].budget_eur == 25_000_000
    assert s.agencies["pm_nord"].service_hours == (8, 23)
    assert s.agencies["pm_est"].patrol.strategy == "hotspot"
    assert s.competences["noise"] == ["municipal_police"]
    assert s.cctv.zones[0].coverage == 0.8
    assert s.cctv.operators == 4
    assert s.citizens.watch_share == 0.05
    assert s.crime is not None and s.crime.drug_markets.prevention_eur_per_year == 500_000
    assert s.run.seed == 9


def test_every_lever_of_every_shipped_scenario_is_a_valid_key() -> None:
    for path in sorted(SCENARIOS.glob("*.yaml")):
        levers = levers_for(load_scenario(path))
        for lever in levers:
            if lever.control == "Select":
                # Some orders are refused on purpose (a hand-over needs judicial powers):
                # the loader says why, and at least one other order is accepted.
                accepted = 0
                for choice in lever.choices:
                    if choice == lever.value:
                        continue
                    try:
                        load_scenario(path, overrides(levers, {lever.name: choice}))
                        accepted += 1
                        break
                    except ScenarioError as exc:
                        assert lever.key in str(exc)
                assert accepted > 0, (path.name, lever.name)
                continue
            up = lever.value + lever.step
            moved = up if up <= lever.high else lever.value - lever.step
            sets = overrides(levers, {lever.name: moved})
            assert len(sets) == 1, (path.name, lever.name)
            load_scenario(path, sets)


# ----------------------------------------------------------------- the dashboard's model


def test_the_dashboard_model_stepped_hour_by_hour_is_the_run(tmp_path: Path) -> None:
    path = SCENARIOS / "baseline.yaml"
    cls = dashboard_model_class(path, ("run.days=2", "run.warmup_days=0"))
    # Mesa passes lever values as keywords, checked against this signature.
    params = inspect.signature(cls.__init__).parameters
    assert "pm_centre__officers" in params and "scenario" not in params
    model = cls(pm_centre__officers=170, seed=3)
    assert model.sets == ["run.seed=3", "agencies.pm_centre.officers=170"]
    while model.running:
        model.step()
    assert model.time == 48.0 and len(model.readings) == 49
    assert model.agencies[1].staffing.officers == 170
    watched = write_results(model.result(), tmp_path / "watched")

    saved = tmp_path / "edited.yaml"
    saved.write_text(model.saved_yaml())
    text = saved.read_text()
    assert f"extends: {path.resolve()}" in text and "officers: 170" in text
    assert "state_police" not in text  # only what changed
    unwatched = write_results(
        run(load_scenario(saved, ["run.days=2", "run.warmup_days=0"])), tmp_path / "unwatched"
    )
    for name in FILES:
        assert (watched / name).read_bytes() == (unwatched / name).read_bytes(), name


def test_refused_lever_values_say_why_and_run_the_original() -> None:
    cls = dashboard_model_class(SCENARIOS / "baseline.yaml", ("run.days=1",))
    model = cls(pm_centre__service_start=10, pm_centre__service_end=10)
    assert model.problem is not None and "service_hours" in model.problem
    assert model.sets == [] and model.spec.agencies["pm_centre"].service_hours == (7, 23)


# ----------------------------------------------------------------- compare


def test_compare_pairs_replicates_and_a_scenario_against_itself_differs_by_nothing() -> None:
    short = ["run.days=1", "run.warmup_days=0"]
    base = load_scenario(SCENARIOS / "baseline.yaml", short)
    more = load_scenario(SCENARIOS / "baseline.yaml", [*short, "agencies.pm_centre.officers=170"])
    done: list[tuple[int, int]] = []
    same = compare(
        ("a", base),
        ("a", base),
        replicates=2,
        root_seed=7,
        progress=lambda d, t: done.append((d, t)),
    )
    assert done == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert same.names == ("a", "a (B)")
    table = same.table()
    # (An indicator with fewer than two values, e.g. a rarely used agency, has no interval.)
    assert (table["B - A"].dropna() == 0.0).all() and table["B - A"].notna().sum() >= 15
    assert (table["A"] == table["B"]).all()

    c = compare(("baseline", base), ("more", more), replicates=2, root_seed=7)
    table = c.table().set_index("indicator")
    assert c.seeds == same.seeds
    cost = table.loc["cost: commune (M EUR a year)"]
    assert cost["B"] > cost["A"] and cost["B - A"] == pytest.approx(cost["B"] - cost["A"])
    assert {"response: pm_centre (min)", "qpv: offences per 1,000 a year, QPV"} <= set(table.index)
    # Same seeds, same calls: the State's cost does not move with municipal hiring.
    assert table.loc["cost: state (M EUR a year)", "B - A"] == 0.0


def test_sliders_keep_the_scenarios_value_on_their_grid() -> None:
    """The scenario's value is on each slider's grid: a budget can be set back once moved."""
    for path in sorted(SCENARIOS.glob("*.yaml")):
        for lever in levers_for(load_scenario(path)):
            if lever.control == "SliderInt":
                assert (lever.value - lever.low) % lever.step == 0, (path.name, lever)
                assert (lever.high - lever.low) % lever.step == 0, (path.name, lever)
                assert lever.step == 1 or lever.step >= (lever.high - lever.low) // 1000
    state = {v.name: v for v in levers_for(load_scenario(SCENARIOS / "baseline.yaml"))}
    budget = state["state_police__budget_keur"]
    assert (budget.value, budget.step, budget.high) == (21_000, 500, 63_000)


def test_competence_levers_offer_only_kinds_that_may_take_the_type() -> None:
    """Serious violence is for armed crews: an unarmed kind is not offered for it."""
    levers = {lever.name: lever for lever in levers_for(load_scenario(SCENARIOS / "baseline.yaml"))}
    violence = levers["competence__serious_violence"].choices
    assert "municipal_police, state_police" in violence  # pm_centre is armed
    assert not any("private_security" in choice for choice in violence)
    assert any("private_security" in choice for choice in levers["competence__theft"].choices)
    # Where no municipal police is armed, the State police alone may: no lever to move.
    dense = levers_for(load_scenario(SCENARIOS / "seine_saint_denis.yaml"))
    assert "competence__serious_violence" not in {lever.name for lever in dense}


def test_compare_says_which_is_higher_in_words_and_counts_calls_nobody_reached() -> None:
    assert verdict(0.5, 2.0) == "B higher (95 % interval above 0)"
    assert verdict(-3.0, -0.1) == "B lower (95 % interval below 0)"
    assert verdict(-1.0, 1.0) == "no clear difference (the interval includes 0)"
    assert verdict(0.0, 0.0) == "the same"
    assert verdict(float("nan"), float("nan")) == "no interval (too few values)"
    short = ["run.days=3", "run.warmup_days=0"]
    base = load_scenario(SCENARIOS / "baseline.yaml", short)
    # The State police gone from assistance, which only it took: those calls have no agency.
    none = load_scenario(
        SCENARIOS / "baseline.yaml", [*short, "competences.assistance=[securite_privee]"]
    )
    table = compare(("a", base), ("b", none), replicates=3, root_seed=7).table()
    rows = table.set_index("indicator")
    assert {"calls: share reached within target", "calls: unanswered (abandoned)"} <= set(
        rows.index
    )
    no_agency = rows.loc["calls: no agency may take"]
    assert no_agency["A"] == 0 and no_agency["B"] > 0
    assert no_agency["verdict"] == "B higher (95 % interval above 0)"


def test_compare_asks_for_a_horizon_that_covers_the_timeline() -> None:
    contract = load_scenario(SCENARIOS / "integrated_security_contract.yaml")
    # The contract is signed on day 30 of the run, warm-up (7 days) included, and its
    # recruits and cameras are in force 90 days later: day 120, the statistics' 114th.
    assert days_needed(contract) == 114
    assert days_needed(load_scenario(SCENARIOS / "baseline.yaml")) == 1
    # (The loader asks only that the contract be signed within the run.)
    with pytest.raises(ScenarioError, match="run at least 24 days"):
        load_scenario(SCENARIOS / "integrated_security_contract.yaml", ["run.days=23"])


def test_refused_levers_offer_no_edited_copy_to_compare() -> None:
    from simulator.dashboard.app import EDITED, ORIGINAL, scenario_choices

    cls = dashboard_model_class(SCENARIOS / "baseline.yaml", ("run.days=1",))
    fine = cls(pm_centre__officers=150)
    assert scenario_choices(fine)[EDITED][2] == ("run.days=1", *fine.sets)
    refused = cls(pm_centre__service_start=23, pm_centre__officers=150)
    assert refused.problem is not None
    choices = scenario_choices(refused)
    assert EDITED not in choices and ORIGINAL in choices


# ----------------------------------------------------------------- results browsing


def test_a_batch_store_is_found_and_read_without_writing(tmp_path: Path) -> None:
    experiment = tmp_path / "two_arms.yaml"
    experiment.write_text(
        "name: two_arms\nreference: baseline\narms:\n"
        f"  baseline: {{scenario: {SCENARIOS / 'baseline.yaml'}}}\n"
        f"  transfer: {{scenario: {SCENARIOS / 'competence_transfer.yaml'}}}\n"
        "replicates: 2\nseed: 3\ndays: 1\nwarmup_days: 0\n"
    )
    store = tmp_path / "results" / "two_arms"
    run_batch(load_experiment(experiment), experiment, store, workers=1)
    before = sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*"))

    assert find_stores(tmp_path / "results") == [store]
    assert find_stores(tmp_path / "nowhere") == []
    view = open_store(store)
    assert view.name == "two_arms" and view.reference == "baseline" and view.runs == 4
    assert set(view.arms["arm"]) == {"baseline", "transfer"}
    assert set(view.differences["arm"]) == {"transfer"}
    assert sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*")) == before


# ----------------------------------------------------------------- the server's settings


def test_the_server_keeps_everything_on_the_machine() -> None:
    argv, env = server_command(SCENARIOS / "baseline.yaml", "127.0.0.1", 8765)
    assert argv[1:5] == ["-m", "solara", "run", "simulator.dashboard.app"]
    assert {"--no-check-version", "--production", "--no-open"} <= set(argv)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "false"
    assert env["SOLARA_ASSETS_CDN"].startswith("http://127.0.0.1:")
    assert env["SOLARA_KERNEL_CULL_TIMEOUT"] == "3m"
    assert env["SECSIM_DASHBOARD_SCENARIO"] == str((SCENARIOS / "baseline.yaml").resolve())


def test_the_dashboard_command_reports_a_bad_scenario_without_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: nowhere.yaml\n")
    assert main(["dashboard", str(bad)]) == 2


def test_the_dashboard_command_says_when_its_port_is_taken(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before announcing the address, not after: nothing is served, exit 69."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dashboard", str(SCENARIOS / "baseline.yaml"), "--port", str(port)]) == 69
    printed = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port}" in printed.err
    assert "choose another with --port" in printed.err
    assert "secsim dashboard on" not in printed.out


def test_step_while_finishing_in_the_background_leaves_the_run_as_secsim_run() -> None:
    # The page's Step and Play stay live while Finish runs the model in a thread.
    import threading

    fixed = ("run.days=2", "run.warmup_days=0")
    model = dashboard_model_class(SCENARIOS / "baseline.yaml", fixed)()
    done = threading.Event()

    def keep_stepping() -> None:
        while not done.is_set():
            model.step()

    stepper = threading.Thread(target=keep_stepping)
    stepper.start()
    time.sleep(0.3)
    try:
        finished = model.result()
    finally:
        done.set()
        stepper.join()
    after = model.time
    model.step()  # after Finish the run is over: Step does nothing
    assert model.time == after
    assert not model.running
    reference = run(load_scenario(SCENARIOS / "baseline.yaml", list(fixed)))
    assert finished.incidents.equals(reference.incidents)
