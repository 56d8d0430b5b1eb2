"""The model's run loop keeps Python's cyclic garbage collector off while it runs.

Off while the hours and events play, as the caller had it after, even when an
event fails; the run's results do not depend on it (``ident`` checks compare whole
runs' tables).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from simulator.model import SecurityModel, collector_paused

from .conftest import SMALL_TOWN, scenario_from


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def town() -> SecurityModel:
    return SecurityModel(scenario_from(SMALL_TOWN), seed=2)


def test_the_collector_is_off_during_the_run_and_on_again_after(collector_on: None) -> None:
    model = town()
    seen: list[bool] = []
    model.call_at(3.5, lambda _: seen.append(gc.isenabled()), None)
    model.run_until(6.0)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off(collector_on: None) -> None:
    model = town()
    gc.disable()
    model.run_until(6.0)
    assert not gc.isenabled()


def test_the_collector_is_on_again_after_an_event_that_fails(collector_on: None) -> None:
    model = town()

    def fail(_: None) -> None:
        raise RuntimeError("an event failed")

    model.call_at(2.5, fail, None)
    with pytest.raises(RuntimeError, match="an event failed"):
        model.run_until(6.0)
    assert gc.isenabled()


def test_a_whole_run_keeps_the_collector_off_from_build_to_tables(
    collector_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simulator.runner as runner

    seen: dict[str, bool] = {}
    build, finish = runner.SecurityModel, runner.complete

    def built(*args: object, **kwargs: object) -> SecurityModel:
        seen["build"] = gc.isenabled()
        return build(*args, **kwargs)  # type: ignore[arg-type]

    def completed(*args: object, **kwargs: object) -> object:
        seen["tables"] = gc.isenabled()
        return finish(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "SecurityModel", built)
    monkeypatch.setattr(runner, "complete", completed)
    scenario = scenario_from(SMALL_TOWN)
    short = scenario.model_copy(update={"run": scenario.run.model_copy(update={"days": 2})})
    runner.run(short, seed=3)
    assert seen == {"build": False, "tables": False}
    assert gc.isenabled()


def test_runs_in_threads_share_one_pause(collector_on: None) -> None:
    """A run that started first and ends first, while another plays, leaves the collector
    off; the last run out turns it on again."""
    first_in, second_in, leave = threading.Event(), threading.Event(), threading.Event()

    def second_run() -> None:
        first_in.wait(30)  # timeouts: a broken test fails, it does not hang
        with collector_paused():
            second_in.set()
            leave.wait(30)

    thread = threading.Thread(target=second_run, daemon=True)
    thread.start()
    try:
        with collector_paused():
            first_in.set()
            assert second_in.wait(30)
        assert not gc.isenabled()  # the second run still plays
    finally:
        leave.set()
        thread.join(30)
    assert not thread.is_alive()
    assert gc.isenabled()
