"""The model the dashboard drives: the simulation model, built from the levers' values.

Mesa's SolaraViz rebuilds the model on reset by calling its class with the
values of the sidebar's controls as keyword arguments, and checks those
keywords against the constructor's signature. The levers depend on the
scenario (one officers slider per agency, one order per call type), so
:func:`dashboard_model_class` makes, for one scenario file, a subclass whose
constructor declares one keyword per lever. None is called ``scenario`` or
``rng``: Mesa passes objects of its own under those names.

The model records a :class:`~simulator.dashboard.view.Reading` at the start of
every hour, read-only, and stops at the end of the statistics window, so that
the run shown is the run ``secsim run`` gives for the saved scenario.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from simulator.dashboard.levers import Lever, edited_yaml, levers_for, overrides
from simulator.dashboard.view import Reading, reading
from simulator.model import SecurityModel
from simulator.runner import RunResult, complete
from simulator.scenario import ScenarioError, load_scenario
from simulator.scenario.schema import Scenario


class DashboardModel(SecurityModel):
    """A :class:`SecurityModel` built from lever values (see :func:`dashboard_model_class`).

    Attributes:
        sets: The ``--set`` overrides in force (the levers moved from the original).
        problem: Why the levers' values were refused (the original scenario then runs).
        readings: The live indicators, one per hour so far.
    """

    base_path: ClassVar[Path]
    fixed_sets: ClassVar[tuple[str, ...]] = ()
    levers: ClassVar[list[Lever]] = []

    def __init__(self, **values: Any):
        self.sets = overrides(self.levers, values)
        self.problem: str | None = None
        try:
            scenario = load_scenario(self.base_path, [*self.fixed_sets, *self.sets])
        except ScenarioError as exc:
            self.problem = str(exc)
            self.sets = []
            scenario = load_scenario(self.base_path, self.fixed_sets)
        self._started = time.perf_counter()
        super().__init__(scenario, scenario.run.seed)
        self.original = scenario
        self.readings: list[Reading] = [reading(self)]
        self.summary: dict[str, Any] | None = None  # once the run is finished
        # Finish runs the model in a background thread while the page's Step and Play
        # stay live: the lock keeps them from advancing the model at the same time, and
        # once Finish has begun (or the window is over) they no longer advance it, so
        # the run shown is the one `secsim run` gives.
        self._advance = threading.RLock()
        self._finishing = False

    def _advance_time(self, until: float) -> None:
        """Advance the model (Mesa's Step calls this), unless Finish owns it now."""
        if not self._advance.acquire(blocking=False):
            return  # Finish is running the model in another thread
        try:
            if self.summary is None and (self._finishing or self.time < self.horizon_h):
                super()._advance_time(until)
            else:  # a Step after the window or after Finish: the run is over
                self.running = False
        finally:
            self._advance.release()

    def step(self) -> None:
        """The hourly update, then the hour's reading; stop at the end of the window."""
        super().step()
        self.readings.append(reading(self))
        self.running = self.time < self.horizon_h

    def result(self, progress: Callable[[float, float], None] | None = None) -> RunResult:
        """Finish the run (from wherever it stands) and compute its outputs.

        The model runs to its horizon first, a day at a time; afterwards it cannot
        be stepped.

        Args:
            progress: Called after each simulated day with (hours done, hours in total).
        """
        with self._advance:
            if self._finishing:
                raise RuntimeError("this run is already being finished")
            self._finishing = True
            self.running = False
            while self.time < self.horizon_h:
                self.run_until(min(self.horizon_h, 24.0 * (self.time // 24.0 + 1)))
                if progress is not None:
                    progress(float(self.time), self.horizon_h)
            result = complete(self, self.original, self.seed, started=self._started)
            self.summary = result.summary.as_json()
            return result

    def saved_yaml(self) -> str:
        """The scenario in force as a file that ``extends:`` the original (see Save)."""
        return edited_yaml(self.base_path, self.sets, f"{self.base_path.stem}_edited")


def dashboard_model_class(path: str | Path, fixed: tuple[str, ...] = ()) -> type[DashboardModel]:
    """A dashboard model class for one scenario file, with one keyword per lever.

    Args:
        path: The original scenario file.
        fixed: Overrides applied to every model and not offered as levers (e.g. the
            horizon); they are not part of a saved file.

    Raises:
        ScenarioError: If the file (with ``fixed``) is not a valid scenario.
    """
    base_path = Path(path).resolve()
    scenario: Scenario = load_scenario(base_path, fixed)
    levers = levers_for(scenario)
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(lever.name, inspect.Parameter.KEYWORD_ONLY, default=lever.value)
        for lever in levers
    ]

    def __init__(self: DashboardModel, **values: Any) -> None:
        DashboardModel.__init__(self, **values)

    # Mesa reads the keywords it may pass from the signature.
    __init__.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    namespace = {
        "__init__": __init__,
        "__doc__": f"The dashboard's model of {base_path.name}.",
        "base_path": base_path,
        "fixed_sets": tuple(fixed),
        "levers": levers,
    }
    return type(f"SecSim_{scenario.name}", (DashboardModel,), namespace)
