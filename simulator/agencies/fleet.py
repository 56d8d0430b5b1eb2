"""The crews of every agency: how many, where they start, how they patrol and travel.

The fleet builds each agency's units from its staffing, gives each a patrol
strategy around its station and the travel model of its agency's mode, and puts
a policy change in force on them: crews keep their job, an agency that gains
vehicles gets new crews, and only an agency whose patrol inputs changed gets new
strategies (the others keep theirs, and with them their stream of patrol targets).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import mesa
import numpy as np
from numpy.typing import NDArray

from simulator.agencies.agency import Agency
from simulator.agencies.legs import LegTable
from simulator.agencies.patrol import PatrolStrategy, PresenceLog, make_strategy
from simulator.agencies.units import Unit
from simulator.records.recorder import Recorder
from simulator.scenario.changes import AGENCY_SETTINGS
from simulator.scenario.schema import Scenario
from simulator.world.territory import Territory
from simulator.world.travel import CircuityTravel

# An agency's settings its patrol strategies are built from.
PATROL_INPUTS = ("patrol", "communes", "station", "stations", "sites")


class Fleet:
    """Every agency's units, in unit-number order.

    Args:
        model: The Mesa model the units belong to.
        scenario: The scenario in force.
        agencies: The placed agencies.
        territory: Where the units work.
        presence: Where the units' presence is logged.
        recorder: Where their state intervals are recorded.
        market_cells: Cells of the drug markets at the start (for market patrols).
        expected_calls: Gives the expected share of calls in each cell now.
        patrol_seed: Seed of the patrol streams, one spawned per agency.
        expected_offences: Gives the expected opportunities of offence types by cell
            now (the crime engine's), for hot spots by offence type
            (``patrol.hotspot_offences``); None without crime (such patrols are
            refused at load).
    """

    # Crime: hot spots by offence type follow the offence types' rates.
    READS: ClassVar[tuple[str, ...]] = (*AGENCY_SETTINGS, "travel", "demand", "crime")
    READS_ONCE: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        model: mesa.Model,
        scenario: Scenario,
        agencies: Sequence[Agency],
        territory: Territory,
        presence: PresenceLog,
        recorder: Recorder,
        market_cells: NDArray[np.int64],
        expected_calls: Callable[[], NDArray[np.float64]],
        patrol_seed: np.random.SeedSequence,
        expected_offences: Callable[[Sequence[str]], NDArray[np.float64]] | None = None,
    ):
        self._model = model
        self._spec = scenario
        self._territory = territory
        self._presence = presence
        self._recorder = recorder
        self._market_cells = market_cells
        self._expected_calls = expected_calls
        self._expected = expected_calls()
        self._expected_offences = expected_offences
        self._by_offences = self._offence_weights(agencies)
        # One patrol stream per agency: changing one agency's patrol leaves the others'.
        self._rngs = [np.random.default_rng(s) for s in patrol_seed.spawn(len(agencies))]
        self._travel: dict[str, CircuityTravel] = {}
        self.agencies = list(agencies)
        self.adopt: Callable[[Unit], None] | None = None  # takes new crews (the life cycle)
        # Every crew's leg; the duties its loops play go to the recorder in blocks.
        self.legs = LegTable(presence, recorder.duties_on_patrol, territory.x_m, territory.y_m)
        # Each agency's strategies, one per station.
        self._strategies = [self._strategies_of(a) for a in self.agencies]
        self.units: list[list[Unit]] = [
            [self._new_unit(a, k + 1) for k in range(a.staffing.vehicles)] for a in self.agencies
        ]

    # ----------------------------------------------------------------- building

    def _strategies_of(self, agency: Agency) -> list[PatrolStrategy]:
        """One patrol strategy per station of the agency, around that station.

        With several stations, each patrols the cells of the jurisdiction nearer to
        it than to the agency's other stations (ties: the station of lower cell id). A
        station listed twice (to get twice the units) shares its sector. Units take
        stations in turn, so an agency with fewer crews than stations leaves the last
        stations without one: sectors are drawn over the stations that have a crew,
        and no part of the jurisdiction is left to a station nobody works from.
        """
        cells = agency.cells
        stations = agency.station_cells
        places = np.unique(stations[: _stations_in_use(agency)])
        sector = np.zeros(cells.size, dtype=np.int64)
        if places.size > 1:
            t = self._territory
            d2 = (t.x_m[cells, None] - t.x_m[None, places]) ** 2 + (
                t.y_m[cells, None] - t.y_m[None, places]
            ) ** 2
            sector = places[np.argmin(d2, axis=1)]
        return [
            make_strategy(
                agency.spec.patrol,
                station_cell=int(station),
                jurisdiction_cells=cells[sector == station] if places.size > 1 else cells,
                beat_cells=self._territory.cells_of_districts(agency.spec.patrol.districts),
                site_cells=agency.site_cells,
                market_cells=self._market_cells,
                hotspot_weights=self._hotspot_weights(agency),
                rng=self._rngs[agency.index],
            )
            for station in stations
        ]

    def _offence_weights(
        self, agencies: Sequence[Agency]
    ) -> dict[tuple[str, ...], NDArray[np.float64]]:
        """The expected opportunities by cell of each list of offence types a patrol ranks by."""
        out: dict[tuple[str, ...], NDArray[np.float64]] = {}
        for agency in agencies:
            names = _ranked_by(agency)
            if names and names not in out:
                if self._expected_offences is None:
                    raise ValueError(
                        f"agency '{agency.name}': hot spots by offence types need the crime engine"
                    )
                out[names] = self._expected_offences(names)
        return out

    def _hotspot_weights(self, agency: Agency) -> NDArray[np.float64]:
        """What the agency's hot spots are ranked by: its offence types' or expected calls."""
        names = _ranked_by(agency)
        return self._by_offences[names] if names else self._expected

    def _travel_of(self, agency: Agency) -> CircuityTravel:
        """The travel model of an agency's crews (one per mode, shared)."""
        found = self._travel.get(agency.spec.mode)
        if found is None:
            found = CircuityTravel(self._spec.travel, agency.mode)
            self._travel[agency.spec.mode] = found
        return found

    def _strategy_for(self, agency: Agency, number: int) -> PatrolStrategy:
        return self._strategies[agency.index][(number - 1) % agency.station_cells.size]

    def _new_unit(self, agency: Agency, number: int) -> Unit:
        return Unit(
            self._model,
            agency=agency,
            number=number,
            territory=self._territory,
            travel=self._travel_of(agency),
            patrol=self._strategy_for(agency, number),
            presence=self._presence,
            recorder=self._recorder,
            legs=self.legs,
        )

    # ----------------------------------------------------------------- policy changes

    def reconfigure(self, scenario: Scenario, agencies: Sequence[Agency]) -> None:
        """Put changed agencies, modes, travel or demand in force on the crews."""
        old_agencies, self.agencies = self.agencies, list(agencies)
        self._spec = scenario
        # Hot spots follow expected calls, which move with demand and contracted sites,
        # or the expected opportunities of offence types, which move with crime's rates.
        expected = self._expected_calls()
        calls_moved = not np.array_equal(expected, self._expected)
        self._expected = expected
        by_offences, before_offences = self._offence_weights(agencies), self._by_offences
        self._by_offences = by_offences
        self._travel = {}
        for agency, before, units in zip(self.agencies, old_agencies, self.units, strict=True):
            offences = _ranked_by(agency)
            # Weights scaled alike rank the cells alike, but their shares may differ in
            # the last bit from a fresh build's: any change rebuilds.
            weights_moved = (
                calls_moved
                if not offences
                else offences not in before_offences
                or not np.array_equal(by_offences[offences], before_offences[offences])
            )
            same = (
                not weights_moved
                and all(getattr(agency.spec, k) == getattr(before.spec, k) for k in PATROL_INPUTS)
                and _stations_in_use(agency) == _stations_in_use(before)
            )
            if not same:
                self._strategies[agency.index] = self._strategies_of(agency)
            for unit in units:
                unit.reassign(
                    agency, self._strategy_for(agency, unit.number), self._travel_of(agency)
                )
            for number in range(len(units) + 1, agency.staffing.vehicles + 1):
                unit = self._new_unit(agency, number)
                if self.adopt is not None:
                    self.adopt(unit)
                units.append(unit)

    def derived_settings(self) -> dict[str, Any]:
        """What the fleet derived from the settings (compared by the reconfiguration test).

        Only crews an agency staffs count: a cut leaves the extra crews idle, not gone.
        """
        out: dict[str, Any] = {}
        for agency, units in zip(self.agencies, self.units, strict=True):
            crews = units[: agency.staffing.vehicles]
            out[agency.name] = {
                "units_by_hour": list(agency.staffing.units_by_hour),
                "stations": [u.station_cell for u in crews],
                "travel": [_settings_of(u.travel) for u in crews],
                "patrol": [_settings_of(self._strategy_for(agency, u.number)) for u in crews],
            }
        return out


def _ranked_by(agency: Agency) -> tuple[str, ...]:
    """The offence types the agency's hot spots are ranked by; none: by expected calls.

    Read by the hotspot strategy only: another keeps the setting unread.
    """
    patrol = agency.spec.patrol
    return tuple(patrol.hotspot_offences) if patrol.strategy == "hotspot" else ()


def _stations_in_use(agency: Agency) -> int:
    """How many of the agency's stations have a crew (units take them in turn)."""
    return max(1, min(agency.staffing.vehicles, agency.station_cells.size))


def _settings_of(obj: object) -> dict[str, Any]:
    """An object's attributes that come from settings: not its stream, not what it drew."""
    names = list(getattr(obj, "__dict__", {})) or list(getattr(obj, "__slots__", ()))
    return {
        name: np.asarray(value).tolist() if isinstance(value, np.ndarray) else value
        for name in names
        if "rng" not in name and "buffer" not in name
        for value in [getattr(obj, name)]
    }
