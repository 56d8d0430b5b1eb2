"""The crime engine: opportunities by routine activity theory, offenders' choices, arrests.

Each hour, opportunities arise in each cell for each offence type at the rate

    rate0[type, hour of week, cell]

computed once per run: suitable targets present (the layer of the activity
model that the type's target names, see :data:`simulator.world.registries.TARGETS`:
people, visitors, empty dwellings, night venues) x motivated offenders within
reach x the cell's attractiveness (lognormal, heavy-tailed, so that a few places
concentrate most offences) x the type's hour-of-day profile, scaled to the
type's ``rate_per_1000``. No policy enters it, and its draws come from a stream
of their own, so that arms of an experiment face the same opportunities. Drug
markets and near repeats (a burglary raises the risk around it for weeks,
Johnson and Bowers 2004) add opportunities that the run's history made.

Each opportunity belongs to an offender within reach (:mod:`simulator.crime.offenders`).
One in custody or prison lets it pass (incapacitation); a free one commits the
offence with the chance exp(-deterrence x perceived risk): guardians in the cell
(patrols, with residual deterrence after they leave, Koper 1995; CCTV watched
by operators; citizen-watch members), the patrol presence around it (diffusion
of benefits), and recent arrests of the offender and near their home. A
deterred offender may look next door, where the risk may deter them too
(displacement).

An offence becomes known if a guardian in the cell sees it (detection on view),
or else if the victim or a witness reports it (probability by type, raised by
trust and citizen watch); the rest stays in the dark figure. Known offences that
call for a unit go to dispatch through the model's one door, the others are
recorded as complaints at the station. The first unit on scene arrests an
offender still there (the life cycle tells :meth:`CrimeEngine.arrested`); a
recorded offence may be cleared later by investigation. An arrest means custody
and, by type, prison.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

from simulator.agencies.agency import Agency
from simulator.crime import grid_kernels, kernels
from simulator.crime.offenders import OffenderPool
from simulator.records.incidents import DarkOffences, Incident, IncidentKind, Known, Outcome
from simulator.scenario.changes import AGENCY_SETTINGS, MARKETS_PLACED_ONCE
from simulator.scenario.schema import CctvSpec, CrimeSpec, CrimeTypeSpec, DistrictType, Scenario
from simulator.world.activity import ActivityModel
from simulator.world.citizens import Population
from simulator.world.registries import HOURS_PER_WEEK, HOURS_PER_YEAR, TARGETS
from simulator.world.territory import Territory

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Float32Array = NDArray[np.float32]
_ATTRACTIVENESS_KEY = 71  # spawn key of the territory's attractiveness stream
# Near-repeat risk below this (offences per hour in a cell) is dropped: it would
# take a million years to make one offence.
_NEGLIGIBLE_RATE = 1e-10
# The stop that counts as its own length when presence saturates (Koper's optimum).
_REFERENCE_STOP_H = 0.25
# Uniforms of the crime stream set aside for each hour's history-made opportunities:
# far more than an hour ever draws (24 per opportunity).
_HISTORY_STRIDE = 1 << 24
# Fewest people present per cell counted as sharing a patrol's attention: where
# fewer are around (empty fields), presence counts reference_people times its face
# value at most, and nothing is divided by zero. Few opportunities arise there.
_MIN_PEOPLE = 1.0
# The eight neighbours, row-major over the 3 x 3 kernel as scipy.ndimage.correlate.
_NEIGHBOUR_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
# No market rates (no market, or no offence type at markets); no cells.
_NO_RATES = np.empty(0)
_NO_CELLS = np.empty(0, dtype=np.int64)
# An hour without history-made opportunities (:func:`simulator.crime.kernels.locate_history`).
_NO_HISTORY: kernels.History = (
    _NO_RATES,
    _NO_CELLS,
    _NO_CELLS,
    0.0,
    _NO_CELLS,
    _NO_RATES,
    -1.0,
    0.0,
)


def neighbour_sum(grid: FloatArray, nx: int, ny: int, radius: int = 1) -> FloatArray:
    """Sum over the (2r+1)^2 square around each cell, the cell itself excluded.

    ``grid`` holds one value per cell on its last axis; leading axes (hours of the
    week) are summed each on its own, in one compiled call
    (:func:`simulator.crime.grid_kernels.neighbour_sums`: the additions of
    ``scipy.ndimage.correlate`` with a kernel of ones, in its order).
    """
    if radius <= 0 or nx * ny == 1:
        return np.zeros_like(grid)
    layers = np.ascontiguousarray(grid.reshape(-1, nx * ny), dtype=np.float64)
    sums = np.empty_like(layers)
    grid_kernels.neighbour_sums(layers, nx, ny, radius, sums)
    out: FloatArray = sums.reshape(grid.shape).astype(grid.dtype, copy=False)
    return out


class SquareMeans:
    """Means over the (2r+1)^2 square around each cell of a grid, clipped to the grid.

    For every cell, from summed-area tables (running sums over rows and columns):
    four look-ups a cell, whatever the radius. Cells outside the grid are not
    counted. (The crime engine's hour, which needs a few cells only, sums their
    squares in its compiled loop, :func:`simulator.crime.kernels.decide`.)

    Args:
        nx: Columns of the grid.
        ny: Rows of the grid.
        radius: Half-width of the square, cells.
    """

    def __init__(self, nx: int, ny: int, radius: int):
        self.radius = radius
        self._shape = (ny, nx)

    @cached_property
    def _squares(self) -> tuple[IntArray, FloatArray]:
        """Flat corners of each cell's square in the tables, and its number of cells."""
        ny, nx = self._shape
        radius = self.radius
        j, i = np.divmod(np.arange(nx * ny, dtype=np.int64), nx)
        j0, j1 = np.maximum(j - radius, 0), np.minimum(j + radius + 1, ny)
        i0, i1 = np.maximum(i - radius, 0), np.minimum(i + radius + 1, nx)
        w = nx + 1  # flat corners of each square in the (ny + 1) x (nx + 1) table
        corners = np.stack([j1 * w + i1, j0 * w + i1, j1 * w + i0, j0 * w + i0])
        return corners, ((j1 - j0) * (i1 - i0)).astype(float)

    def tables(self, rows: FloatArray) -> FloatArray:
        """The summed-area tables of values by cell, one row per layer (k x cells)."""
        ny, nx = self._shape
        k = rows.shape[0]
        sums = np.zeros((k, ny + 1, nx + 1))
        sums[:, 1:, 1:] = rows.reshape(k, ny, nx).cumsum(axis=1).cumsum(axis=2)
        out: FloatArray = sums.reshape(k, -1)
        return out

    def at(self, tables: FloatArray, cells: IntArray | slice = slice(None)) -> FloatArray:
        """The means around ``cells`` (all by default), from :meth:`tables`' output."""
        corners, count = self._squares
        a, b, c, d = (corner[cells] for corner in corners)
        out: FloatArray = (tables[..., a] - tables[..., b] - tables[..., c] + tables[..., d]) / (
            count[cells]
        )
        return out

    def __call__(self, rows: FloatArray) -> FloatArray:
        """The means around every cell, one row per layer (k x cells).

        The tables and the means of :meth:`tables` and :meth:`at`, in one compiled
        pass (:func:`simulator.crime.grid_kernels.square_means`: the same additions
        in the same order).
        """
        ny, nx = self._shape
        layers = np.ascontiguousarray(rows.reshape(-1, ny * nx), dtype=np.float64)
        means = np.empty_like(layers)
        grid_kernels.square_means(layers, nx, ny, self.radius, means)
        out: FloatArray = means.reshape(rows.shape)
        return out


def crowd_factors(
    people: NDArray[np.floating[Any]], nx: int, ny: int, reference: float, radius: int
) -> Float32Array:
    """What an hour of patrol presence counts for, by hour of the week and cell.

    ``reference`` over the mean number of people present in the square of
    ``radius`` cells around each cell (at least one a cell): where more people
    share a patrol's attention, it deters each of them less. Deterrence then
    follows police per person present, not police per square kilometre, and does
    not change with the size of the cells.

    Args:
        people: People present, hours of the week x cells (the ``people`` layer).
        nx: Columns of the grid.
        ny: Rows of the grid.
        reference: People present per cell at which presence counts at face value.
        radius: Half-width of the square, cells.
    """
    around = SquareMeans(nx, ny, radius)(people.astype(float))
    np.maximum(around, _MIN_PEOPLE, out=around)
    np.divide(reference, around, out=around)
    # Each hour's row contiguous: the compiled loops read one row an hour.
    out: Float32Array = np.ascontiguousarray(around.astype(np.float32))
    return out


def neighbour_table(nx: int, ny: int) -> IntArray:
    """The eight neighbours of each cell of an nx x ny grid (-1 outside the grid)."""
    j, i = np.divmod(np.arange(nx * ny, dtype=np.int64), nx)
    out = np.full((nx * ny, len(_NEIGHBOUR_OFFSETS)), -1, dtype=np.int64)
    for o, (dj, di) in enumerate(_NEIGHBOUR_OFFSETS):
        tj, ti = j + dj, i + di
        ok = (tj >= 0) & (tj < ny) & (ti >= 0) & (ti < nx)
        out[ok, o] = tj[ok] * nx + ti[ok]
    return out


def _poisson_by_inversion(u: float, mean: float) -> int:
    """The Poisson count whose distribution function first exceeds ``u``.

    One uniform per count, so that two means close to each other give the same
    count from the same uniform most of the time (common random numbers).
    """
    if mean <= 0:
        return 0
    if mean > 500:  # far beyond any hour's opportunities: the normal approximation
        z = float(ndtri(min(max(u, 1e-12), 1 - 1e-12)))
        return max(0, round(mean + float(np.sqrt(mean)) * z))
    p = float(np.exp(-mean))
    cdf, k = p, 0
    while u > cdf and p > 0:
        k += 1
        p *= mean / k
        cdf += p
    return k


def _sum(values: list[float]) -> float:
    """``float(np.array(values).sum())``, to the bit, without the array under 8 values."""
    if len(values) >= 8:  # NumPy sums in pairs from 8 on
        return float(np.array(values).sum())
    total = 0.0
    for value in values:
        total += value
    return total


# The uniforms each opportunity carries, drawn together when it arises: its fate
# reads them by name, so that two arms use the same numbers for the same purpose.
_UNIFORMS = (
    "time",  # when in the hour
    "where",  # which type and cell (running sum of rates)
    "home",  # which cell within reach the offender comes from
    "who",  # which offender of that cell
    "commit",  # whether the risk they perceive deters them
    "move",  # whether a deterred offender looks next door (displacement)
    "next_door",  # which neighbour
    "commit_next_door",  # whether the risk there deters them
    "local",  # a victim living in the cell, or one passing through
    "victim",  # which victim
    "detect",  # seen by a guardian
    "report",  # reported by the victim or a witness
    "delay",  # reporting delay
    "respond",  # a unit sent
    "arrest",  # arrested if still on scene when a unit arrives
    "follow",  # a written follow-up
    "scene",  # time on scene
    "jitter_x",
    "jitter_y",
    "stay",  # how long the offender stays on scene
    "later",  # cleared later by investigation
    "investigate",  # how long that takes
    "prison",  # an arrest that leads to prison
    "prison_days",  # for how long
)
_U = {name: i for i, name in enumerate(_UNIFORMS)}
_WHERE = _U["where"]
# The uniforms an offence turns into exponential variates (reporting delay, time on
# scene, how long the offender stays), in the order :func:`simulator.crime.kernels.offences`
# reads them.
_LENGTHS = np.array([_U["delay"], _U["scene"], _U["stay"]], dtype=np.int64)
# The columns :func:`simulator.crime.kernels.decide` reads, in the order it reads them.
_DECISION_COLUMNS = np.array(
    [_U["commit"], _U["move"], _U["next_door"], _U["commit_next_door"]], dtype=np.int64
)
# The columns :func:`simulator.crime.kernels.commit_hour` reads itself: the offender's
# home and who they are, when in the hour.
_PICK_COLUMNS = np.array([_U["home"], _U["who"], _U["time"]], dtype=np.int64)
# The columns :func:`simulator.crime.kernels.offences` reads, in the order it reads them.
_OFFENCE_COLUMNS = np.array(
    [
        _U[name]
        for name in (
            "local",
            "victim",
            "detect",
            "report",
            "respond",
            "follow",
            "arrest",
            "jitter_x",
            "jitter_y",
        )
    ],
    dtype=np.int64,
)
# The uniforms :meth:`CrimeEngine._incidents` reads, in that order, handed back by
# :func:`simulator.crime.kernels.commit_hour` with each offence's numbers.
_KEPT_COLUMNS = np.array(
    [_U["later"], _U["investigate"], _U["prison"], _U["prison_days"]], dtype=np.int64
)
# The victims of an offence type, as :func:`simulator.crime.kernels.offences` reads them.
_VICTIMS = {"none": kernels.NO_VICTIM, "household": kernels.HOUSEHOLD, "person": kernels.PERSON}
_KNOWN = {kernels.DETECTED: Known.DETECTED, kernels.REPORTED: Known.REPORTED}
_DARK = kernels.DARK


def _attractiveness(territory: Territory, spec: CrimeSpec) -> FloatArray:
    """Heavy-tailed attractiveness of each cell, a property of the territory.

    Drawn from the territory's seed so that every run on the same city sees the
    same hot spots.
    """
    rng = np.random.default_rng(np.random.SeedSequence([territory.seed, _ATTRACTIVENESS_KEY]))
    base = rng.lognormal(0.0, spec.attractiveness_sigma, size=territory.n_cells)
    values: FloatArray = base * _by_district_type(territory, spec.district_factors)
    return values


def _by_district_type(territory: Territory, factors: Mapping[DistrictType, float]) -> FloatArray:
    """Each cell's factor from its district's type (1 where none is given, 0 off land)."""
    factor = [factors.get(dt, 1.0) for dt in territory.district_types]
    # A trailing 0 answers for district -1: nothing attracts offenders off land.
    out: FloatArray = np.array([*factor, 0.0])[territory.district]
    return out


def initial_market_cells(
    territory: Territory, spec: CrimeSpec, attractiveness: FloatArray | None = None
) -> IntArray:
    """Where drug markets sit at the start (and so where the police know of them).

    The most attractive cells of the market district types, at most one per district.
    """
    t = territory
    score = _attractiveness(t, spec) if attractiveness is None else attractiveness
    eligible = t.market_cells(spec.drug_markets.district_types)
    order = eligible[np.lexsort((eligible, -score[eligible]))]
    chosen: list[int] = []
    used: set[int] = set()
    for cell in order:
        if len(chosen) == spec.drug_markets.count:
            break
        d = int(t.district[cell])
        if d not in used:
            chosen.append(int(cell))
            used.add(d)
    return np.array(chosen, dtype=np.int64)


def cctv_coverage(territory: Territory, spec: CctvSpec) -> FloatArray:
    """Share of each cell in view of cameras."""
    coverage = np.zeros(territory.n_cells)
    for zone in spec.zones:
        # By type, identifier or (a file territory's) code, as the checks accept them.
        cells = territory.cells_of_districts(zone.districts)
        if cells is None:  # no district named: no camera
            continue
        if zone.communes is not None:
            wanted = [territory.commune_index(c) for c in zone.communes]
            cells = cells[np.isin(territory.commune[cells], wanted)]
        coverage[cells] = np.maximum(coverage[cells], zone.coverage)
    return coverage


@dataclass
class _Market:
    cell: int
    capacity: float
    intensity: float


@dataclass
class _MarketArrays:
    """The drug markets as the hourly loops read them.

    Made again when a market appears or goes; their intensities are taken again
    when they change (:meth:`CrimeEngine._market_arrays`).

    Attributes:
        by_cell: The markets' places in the engine's list, cells ascending.
        flat: Flat indices of the markets' opportunities (market type rows x cells,
            cells ascending).
        intensity: The markets' intensities, cells ascending.
        rates: This hour's rates at ``flat`` (:func:`simulator.crime.kernels.history_rates`
            writes them).
        enforcement: Flat indices (enforcing agency x cell; enforcers, then the
            markets in their order) of the enforcers' presence at the markets.
    """

    by_cell: list[int]
    flat: IntArray
    intensity: FloatArray
    rates: FloatArray
    enforcement: IntArray


class CrimeEngine:
    """Generates offences hour by hour and decides how each becomes known.

    Args:
        spec: The crime block of the scenario.
        cctv: The CCTV block.
        territory: Where offences happen.
        population: The residents (victims, reporters, trust).
        activity: Where people are, by hour of the week (targets and offenders).
        agencies: The placed agencies (for guardianship strengths by kind).
        rng: The crime stream.
        new_id: Gives the next incident id.
    """

    READS: ClassVar[tuple[str, ...]] = (*AGENCY_SETTINGS, "crime", "cctv", "citizens.watch_share")
    READS_ONCE: ClassVar[tuple[str, ...]] = MARKETS_PLACED_ONCE

    def __init__(
        self,
        spec: CrimeSpec,
        cctv: CctvSpec,
        territory: Territory,
        population: Population,
        activity: ActivityModel,
        agencies: Sequence[Agency],
        rng: np.random.Generator,
        new_id: Callable[[], int],
        *,
        opportunities: np.random.Generator,
        careers: np.random.SeedSequence,
    ):
        self._t = territory
        self._pop = population
        self._activity = activity
        # Draws of opportunities the run's history made (near repeats, markets) start
        # each hour at the same place of the crime stream, whatever was drawn before:
        # arms whose histories differ still share most of those numbers.
        self._rng = rng
        # They come from a copy of the stream (its own generator), moved ahead to each
        # hour's place: ``_history_at`` numbers of it are behind it. The crime stream
        # itself takes that state when it next draws (_neighbour).
        self._history = np.random.Generator(copy.deepcopy(rng.bit_generator))
        self._history_at = 0
        self._rng_behind = False
        # Opportunities at rates no policy changes, with every uniform their fate needs
        # drawn at once: arms of an experiment share them (common random numbers).
        self._opportunities = opportunities
        self._new_id = new_id
        # The dark offences (:meth:`dark_offences`): each one's id and priority, in
        # order; the kernel's tables of the day's hours that had some, with their
        # places; the dark rows alone of the days before (:meth:`_keep_dark_rows`).
        self._dark_ids: list[tuple[int, int]] = []
        self._dark_hours: list[tuple[IntArray, FloatArray, list[int]]] = []
        self._dark_numbers: list[IntArray] = []
        self._dark_values: list[FloatArray] = []
        self._dark_read = DarkOffences.none()
        self.offenders = OffenderPool(
            spec.offenders,
            len(spec.types),
            territory,
            population,
            careers,
            spec.offender_range_cells,
        )
        self._arrests_grid = np.zeros(territory.n_cells)  # recent arrests, faded daily
        self._arrests_near = np.zeros(territory.n_cells)  # within reach of each cell
        # Clearances to come: (when, incident id, incident, investigating agency).
        self._later: list[tuple[float, int, Incident, str]] = []
        self._sentence: dict[int, tuple[float, float]] = {}  # uniforms of an arrest's fate
        self._investigated: set[int] = set()  # incidents with a clearance to come
        n = territory.n_cells
        # 1 on land, 0 off it (near repeats spill over onto land only); none if all is land.
        self._land_flat = _NO_RATES if territory.land.all() else territory.land.astype(float)
        # State that lives through policy changes.
        self._effective = np.zeros((len(agencies), n))  # presence with residual decay
        self._last_presence = np.zeros((len(agencies), n))
        self._presence_hour = np.zeros((len(agencies), n))
        # Flat views of the same memory, as the compiled loops read them.
        self._effective_flat = self._effective.reshape(-1)
        self._last_presence_flat = self._last_presence.reshape(-1)
        self._presence_hour_flat = self._presence_hour.reshape(-1)
        self._touched_last = np.empty(0, dtype=np.int64)  # entries of _presence_hour set
        self._presence_day = np.zeros(n)
        self._victims_day = np.zeros(n)
        self._near_repeat = np.zeros(n)
        # The cells where near-repeat risk is not 0, ascending: the hourly decay and
        # draw then touch those only, not the whole grid.
        self._risk_at = np.empty(0, dtype=np.int64)
        self._risk_scratch = np.empty(n)
        self._prevention_factor = 1.0  # market capacity left by prevention (1: none yet)
        self.spec = spec
        self.types = list(spec.types)
        # Neighbours inside the grid of each cell, listed first, and how many they are.
        if territory.kind != "point":
            table = neighbour_table(territory.nx, territory.ny)
            # Off land is no neighbour: nothing is displaced or repeats there.
            table[(table >= 0) & ~territory.land[table]] = -1
            self._neighbour_table = table
            first = np.argsort(table < 0, axis=1, kind="stable")
            compact = np.take_along_axis(table, first, axis=1)
            self._inside = (table >= 0).sum(axis=1)
        else:
            self._neighbour_table = np.empty((n, 0), dtype=np.int64)
            compact = np.zeros((n, 1), dtype=np.int64)
            self._inside = np.zeros(n, dtype=np.int64)
        # Where a deterred offender may look (the neighbours first; the cell itself
        # fills the rest of its row), and which entries of that row are neighbours.
        next_valid = np.arange(compact.shape[1])[None, :] < self._inside[:, None]
        self._next_door = np.where(next_valid, compact, np.arange(n)[:, None])
        # What an offence reads of its cell: its centre (kernels.offences), district and
        # commune (as Python numbers, the same values).
        self._x = np.ascontiguousarray(territory.x_m, dtype=np.float64)
        self._y = np.ascontiguousarray(territory.y_m, dtype=np.float64)
        self._district, self._commune = territory.district.tolist(), territory.commune.tolist()
        # Expected offences given the opportunities that arose (each one's chance of
        # becoming an offence where it arose and, displaced, next door), rows in draw
        # order: the model's crime without the noise of the commit draws, for tests
        # and calibration (added to hour by hour in kernels.commit_hour).
        self._order: list[int] = []  # offence types in the order of the hourly draw
        self._expected = np.zeros((len(self.types), n))
        # Patrol presence as offenders remember it, by cell; this hour's patrol presence.
        self._area_field = np.zeros(n)
        self._patrol = np.zeros(n)
        self._seen_cells = np.zeros(n, dtype=bool)  # scratch of kernels.observe_presence
        self._configure(spec, cctv, agencies, first=True)
        self._markets = self._place_markets()

    def reconfigure(self, scenario: Scenario, agencies: Sequence[Agency]) -> None:
        """Put changed crime, CCTV, agency or watch settings in force (a policy change).

        Markets, near-repeat risk and residual deterrence carry over.
        """
        spec, cctv = scenario.crime, scenario.cctv
        if spec is None:
            raise ValueError("the crime engine cannot be removed during a run")
        if list(spec.types) != self.types:
            raise ValueError("offence types cannot change during a run")
        self._configure(spec, cctv, agencies, first=False)

    def _configure(
        self, spec: CrimeSpec, cctv: CctvSpec, agencies: Sequence[Agency], *, first: bool
    ) -> None:
        territory, population = self._t, self._pop
        n = territory.n_cells
        rebuild = first or (
            spec.types != self.spec.types
            or spec.attractiveness_sigma != self.spec.attractiveness_sigma
            or spec.district_factors != self.spec.district_factors
            or spec.offender_range_cells != self.spec.offender_range_cells
        )
        self.spec = spec
        self._type_specs: list[CrimeTypeSpec] = [spec.types[k] for k in self.types]
        # What an offence of each type reads (kernels.offences, kernels.detection_chance).
        self._type_table = np.array(
            [
                [
                    _VICTIMS[ts.victim],
                    ts.report_prob,
                    ts.response_share,
                    ts.report_delay_min,
                    ts.on_scene_mean_min,
                    ts.follow_up_min,
                    ts.follow_up_prob,
                    ts.arrest_prob,
                    ts.stay_min,
                    ts.later_clearance_prob,
                    ts.later_clearance_delay_h,
                ]
                for ts in self._type_specs
            ],
            dtype=np.float64,
        ).reshape(len(self._type_specs), kernels.LATER_DELAY + 1)
        self._visibility = np.array([ts.visibility for ts in self._type_specs], dtype=np.float64)
        if not first:
            self._expected[self._order] = self._expected.copy()  # back to type order
            self.offenders.reconfigure(spec.offenders, spec.offender_range_cells)
        # Offence types in the order of the hourly draw: ordinary ones, then markets.
        markets = [TARGETS[t.target].follows_markets for t in self._type_specs]
        self._order = [k for k, at_markets in enumerate(markets) if not at_markets]
        self._n_ordinary = len(self._order)
        self._order += [k for k, at_markets in enumerate(markets) if at_markets]
        self._expected = self._expected[self._order]  # rows in draw order
        self._order_index = np.array(self._order, dtype=np.int64)
        # The markets as the hourly loops read them (_market_arrays), made again when
        # a market appears or goes (_update_markets) and when the enforcers may have
        # changed; their intensities are taken again when they change.
        self._markets_read: _MarketArrays | None = None
        self._intensity_read = False
        self._deterrence = np.array([self._type_specs[k].deterrence for k in self._order])
        self._judicial_at = np.full(territory.n_cells, -1, dtype=np.int64)
        for a in agencies:  # the first judicial agency competent for a cell investigates
            if a.capabilities.judicial:
                free = a.cells[self._judicial_at[a.cells] < 0]
                self._judicial_at[free] = a.index
        self._investigator = self._judicial_at.tolist()
        self._agency_names = [a.name for a in agencies]
        if rebuild:
            self.attractiveness = _attractiveness(territory, spec)
            reach = spec.offender_range_cells
            residents = territory.residents.astype(float)
            near = residents + (
                neighbour_sum(residents, territory.nx, territory.ny, reach)
                if territory.kind != "point"
                else 0.0
            )
            self._per_1000_near = 1000.0 / np.maximum(near, 1.0)
            self._rate0 = self._base_rates()
        self._market_enforcers = [i for i, a in enumerate(agencies) if a.capabilities.drug_markets]
        self._agency_strength = np.array(
            [a.capabilities.guardianship * a.mode.presence for a in agencies]
        )
        # Squares around targets, and what presence counts for in them (a policy change
        # may move the radius or the reference; rebuilt, they are the same otherwise).
        radius = spec.offenders.area_radius_cells
        self._crowd = crowd_factors(
            self._activity.week("people"),
            territory.nx,
            territory.ny,
            spec.offenders.reference_people,
            radius,
        )
        self._decay = float(np.exp(-1.0 / spec.residual_deterrence_h))
        memory = spec.offenders.area_memory_h
        self._area_keep = float(np.exp(-1.0 / memory)) if memory > 0 else 0.0
        self._saturation_h = spec.deterrence_saturation_min / 60.0
        self._saturation_scale = 1.0
        if self._saturation_h > 0:
            self._saturation_scale = _REFERENCE_STOP_H / -np.expm1(
                -_REFERENCE_STOP_H / self._saturation_h
            )
        coverage = cctv_coverage(territory, cctv)
        cameras = coverage.sum()
        seats = cctv.operators * cctv.cameras_per_operator
        watched = 1.0 if seats >= cameras else seats / cameras  # share of cameras watched
        self.cctv_effective = coverage * watched
        counts = np.maximum(territory.residents, 1)
        self._watch_share = np.bincount(population.home[population.watch], minlength=n) / counts
        self._static_guard = (
            spec.guardianship.cctv * self.cctv_effective
            + spec.guardianship.watch * self._watch_share
        )
        self._nr_decay = float(np.exp(-1.0 / (spec.near_repeat.decay_days * 24.0)))
        self._market_rate = np.array(
            [
                t.rate_per_1000 * territory.residents.sum() / 1000.0 / HOURS_PER_YEAR
                if TARGETS[t.target].follows_markets
                else 0.0
                for t in self._type_specs
            ]
        )
        self._profile = np.array(
            [
                np.asarray(t.hourly_profile, dtype=float)
                / np.asarray(t.hourly_profile, dtype=float).mean()
                for t in self._type_specs
            ]
        )
        # The markets' opportunity rates by hour of the day (rows) and market type.
        at_markets = self._order[self._n_ordinary :]
        self._market_scale = (
            (self._market_rate[at_markets][:, None] * self._profile[at_markets]).T.copy()
            if at_markets
            else None
        )
        # The type rows (draw order) of the offence types that repeat.
        self._repeat_rows = np.array(
            [p for p in range(self._n_ordinary) if self._type_specs[self._order[p]].near_repeat],
            dtype=np.int64,
        )
        self._market_divisor = float(max(1, spec.drug_markets.count))
        if rebuild:
            self._opportunity_cum = self._opportunity_rates()
        self._hour_arguments()

    def _hour_arguments(self) -> None:
        """The arguments of the hour's compiled call that only the settings change.

        Made once for each configuration rather than every hour
        (:meth:`_commit`): the arrays they hold are changed in place (the patrol
        field, the residents' trust and fear, the offenders' custody...). The guardians
        are made for each hour of the week (their crowd factors are the hour's); what
        the decisions read holds the arrests near each cell, made again each day
        (:meth:`_decision_arguments`), and what the victims read the residents'
        settings (:meth:`_victim_arguments`).
        """
        detection = self.spec.detection
        self._n_cells = self._t.n_cells
        self._cum_by_hour = list(self._opportunity_cum)
        # The ordinary opportunities' expected count by hour of the week (Python numbers).
        self._ordinary_by_hour: list[float] = (
            self._opportunity_cum[:, -1].tolist() if self._n_ordinary else [0.0] * HOURS_PER_WEEK
        )
        # The markets' rates by hour of the day, if any type is drawn at markets.
        self._market_types = self._market_scale is not None
        self._scale_by_hour = (
            [_NO_RATES] * 24 if self._market_scale is None else list(self._market_scale)
        )
        self._guarding = [self._guardians(self._patrol, hw) for hw in range(HOURS_PER_WEEK)]
        self._deciding = self._decision_arguments()
        self._seeing: kernels.Seeing = (
            self._visibility,
            self._presence_hour,
            self.cctv_effective,
            detection.patrol,
            detection.cctv,
        )
        self._victims = self._victim_arguments()

    def _victim_arguments(self) -> kernels.Victims:
        """What :func:`simulator.crime.kernels.offences` reads besides the offences.

        Made again when the residents' settings change (:meth:`_commit`: a policy
        change of them does not reconfigure the engine); ``_victims_of`` keeps the
        settings this one holds.
        """
        pop = self._pop
        citizens = self._victims_of = pop.spec
        return (
            self._type_table,
            pop.first,
            pop.trust,
            pop.report_propensity,
            pop.watch,
            pop.fear,
            pop.victimisations,
            float(citizens.watch_report_bonus),
            1.0 - citizens.trust_victim_loss,
            float(citizens.fear_victim_gain),
            self._victims_day,
            self._x,
            self._y,
            float(self._t.cell_m),
            self.offenders.offences,
            self.offenders.generation,
        )

    def _decision_arguments(self) -> kernels.Deciding:
        """What :func:`simulator.crime.kernels.decide` reads besides the opportunities.

        Made again when the arrests near each cell are (:meth:`_commit`: each day);
        ``_deciding_near`` keeps which array this one holds.
        """
        pool, spec = self.offenders, self.spec.offenders
        self._deciding_near = self._arrests_near
        return (
            _DECISION_COLUMNS,
            pool.held_until_h,
            pool.own_arrests,
            pool.own_arrests_t,
            pool.home,
            spec.memory_days * 24.0,
            spec.own_arrest,
            spec.others_arrest,
            self._arrests_near,
            self._deterrence,
            self.spec.displacement_share,
            self._inside,
            self._next_door,
        )

    def derived_settings(self) -> dict[str, Any]:
        """What the engine derived from the settings (compared by the reconfiguration test)."""
        return {
            "spec": self.spec,
            "order": self._order,
            "deterrence": self._deterrence,
            "rate0": self._rate0,
            "market_enforcers": self._market_enforcers,
            "strength": self._agency_strength,
            "crowd": self._crowd,
            "area_keep": self._area_keep,
            "per_1000_near": self._per_1000_near,
            "decay": self._decay,
            "saturation_h": self._saturation_h,
            "cctv_effective": self.cctv_effective,  # the watch's part depends on who joined
            "nr_decay": self._nr_decay,
            "market_rate": self._market_rate,
            "profile": self._profile,
            "judicial_at": self._judicial_at,
            "market_scale": self._market_scale,
            "repeat_rows": self._repeat_rows,
        }

    # ----------------------------------------------------------------- set-up

    def _base_rates(self) -> Float32Array:
        """The ordinary opportunities' rates: ordinary types in draw order x hours x cells.

        Targets present x offenders within reach (those of the cell and of the
        square of ``offender_range_cells`` around it) x attractiveness x the type's
        hour-of-day profile, scaled to the type's ``rate_per_1000`` (in single
        precision). The offenders within reach are summed once for every hour and
        type; each type's product is made in two arrays kept from type to type.
        """
        t = self._t
        offenders = self._activity.week("offenders").astype(float)
        reach = offenders + neighbour_sum(offenders, t.nx, t.ny, self.spec.offender_range_cells)
        reach32 = reach.astype(np.float32)
        residents = float(t.residents.sum())
        ordinary = self._order[: self._n_ordinary]
        rates = np.zeros((len(ordinary), HOURS_PER_WEEK, t.n_cells), dtype=np.float32)
        present = np.empty_like(reach32)  # targets x offenders within reach, single precision
        w = reach  # the weights, in double precision (the sums within reach are no longer needed)
        for p, k in enumerate(ordinary):
            ts = self._type_specs[k]
            layer = TARGETS[ts.target].layer
            if layer is None:  # drug markets: drawn hour by hour from their activity
                continue
            profile = np.tile(np.asarray(ts.hourly_profile, dtype=float), 7)[:, None]
            np.multiply(self._activity.week(layer), reach32, out=present)
            np.multiply(present, self.attractiveness[None, :], out=w)
            w *= profile
            if ts.district_factors:  # the type's own weights by district type
                w *= _by_district_type(t, ts.district_factors)[None, :]
            total = w.sum()
            per_week = ts.rate_per_1000 * residents / 1000.0 * HOURS_PER_WEEK / HOURS_PER_YEAR
            if total > 0:
                np.multiply(w, per_week / total, out=rates[p], casting="same_kind")
        return rates

    def _opportunity_rates(self) -> FloatArray:
        """Running sums, per hour of the week, of the ordinary opportunities' rates.

        Row ``hw`` runs over the ordinary types in draw order, then the cells. No
        policy enters them: guardianship acts on each opportunity's fate.
        """
        n = self._t.n_cells
        cum = np.zeros((HOURS_PER_WEEK, max(1, self._n_ordinary * n)))
        grid_kernels.running_rates(self._rate0, cum)
        return cum

    def expected_opportunities(self, names: Sequence[str]) -> FloatArray:
        """Expected opportunities of the named offence types by cell over a week.

        Their routine-activity rates (targets present, offenders within reach,
        attractiveness, hour profile), which no policy moves: what a patrol of hot
        spots by offence type ranks the cells by (``patrol.hotspot_offences``). Types
        drawn at the drug markets have no standing rates: they add nothing (and are
        refused at load).

        Raises:
            ValueError: A name is not one of the engine's offence types.
        """
        rows = [self._order.index(self.types.index(name)) for name in names]
        out = np.zeros(self._t.n_cells)
        for p in rows:
            if p < self._n_ordinary:
                out += self._rate0[p].sum(axis=0, dtype=np.float64)
        return out

    @property
    def expected(self) -> FloatArray:
        """Expected offences by type and cell so far, given the opportunities that arose."""
        out = np.zeros_like(self._expected)
        out[self._order] = self._expected
        return out

    def _place_markets(self) -> list[_Market]:
        cells = initial_market_cells(self._t, self.spec, self.attractiveness)
        return [_Market(int(c), 1.0, 1.0) for c in cells]

    # ----------------------------------------------------------------- hourly update

    def observe_presence(self, presence_hours: FloatArray, touched: IntArray) -> None:
        """Take the presence log's totals (agency x cell) at the start of an hour.

        Only the entries ``touched`` changed. What an hour's presence adds to
        deterrence has diminishing returns past a stop: kappa x (1 - exp(-hours /
        tau)), with kappa such that a stop of the reference length (15 minutes)
        counts as its length: shorter stops count for less than their length,
        longer ones barely more (Koper 1995); tau 0 counts hours as they are.
        Residual deterrence fades by ``residual_deterrence_h``
        (:func:`simulator.crime.kernels.observe_presence`).

        Args:
            presence_hours: The log's hours so far, agency x cell.
            touched: Flat indices of the entries that changed since the last call
                (``PresenceLog.take_touched``), ascending, once each.
        """
        kernels.observe_presence(
            presence_hours.reshape(-1),
            touched,
            self._touched_last,
            self._presence_hour_flat,
            self._last_presence_flat,
            self._effective_flat,
            self._presence_day,
            self._seen_cells,
            self._decay,
            self._saturation_h,
            self._saturation_scale,
        )
        self._touched_last = touched

    def market_activity(self) -> dict[int, float]:
        """Current intensity of each drug-market cell."""
        return {m.cell: m.intensity for m in self._markets}

    def _market_arrays(self) -> _MarketArrays:
        """The markets as the hourly loops read them (:class:`_MarketArrays`).

        Kept while the markets stay where they are (:meth:`_update_markets`, the
        only place they change, says when they move or their intensities change)
        and the settings do (:meth:`_configure`). Markets sit in distinct cells
        (:meth:`_update_markets` merges those that meet).
        """
        markets = self._markets
        arrays = self._markets_read
        if arrays is None:
            by_cell = sorted(range(len(markets)), key=lambda i: markets[i].cell)
            where = np.array([markets[i].cell for i in by_cell], dtype=np.int64)
            rows = np.arange(self._n_ordinary, len(self._order)) * self._t.n_cells
            enforcers = np.array(self._market_enforcers, dtype=np.int64) * self._t.n_cells
            cells = np.array([m.cell for m in markets], dtype=np.int64)
            arrays = self._markets_read = _MarketArrays(
                by_cell=by_cell,
                flat=(rows[:, None] + where).ravel(),
                intensity=np.empty(0),
                rates=np.empty(rows.size * where.size),
                enforcement=(enforcers[:, None] + cells).ravel(),
            )
            self._intensity_read = False
        if not self._intensity_read:
            arrays.intensity = np.array(
                [markets[i].intensity for i in arrays.by_cell], dtype=np.float64
            )
            self._intensity_read = True
        return arrays

    def _update_markets(self, hour: int) -> None:
        if not self._markets:
            return
        spec = self.spec.drug_markets
        # Most hours no enforcer stood at a market: one compiled look at their presence.
        enforcement = self._market_arrays().enforcement
        if kernels.any_nonzero(self._presence_hour_flat, enforcement):
            # One flat gather (enforcers x markets) costs less than an np.ix_ index.
            hours = self._presence_hour_flat[enforcement]
            shape = (len(self._market_enforcers), len(self._markets))
            at_markets: list[float] = hours.reshape(shape).sum(axis=0).tolist()
            self._intensity_read = False
            new: list[_Market] = []
            for m, enforcement_h in zip(self._markets, at_markets, strict=True):
                if enforcement_h > 0:
                    suppressed = m.intensity * min(1.0, spec.enforcement_per_h * enforcement_h)
                    m.intensity -= suppressed
                    moved = suppressed * spec.displacement_share
                    if moved > 0:
                        new.append(_Market(self._neighbour(m.cell), 0.0, moved))
            for n_m in new:
                existing = next((m for m in self._markets if m.cell == n_m.cell), None)
                if existing is None:
                    self._markets.append(n_m)
                    self._markets_read = None
                else:
                    existing.intensity += n_m.intensity
        if hour % 24 == 0:
            self._intensity_read = False
            # Prevention lowers market capacity slowly: the capacity factor relaxes each
            # day towards its long-run level, from wherever it stood when spending changed.
            meur = spec.prevention_eur_per_year / 1e6
            target = max(0.0, 1.0 - spec.prevention_effect_per_meur * meur)
            step = 1.0 - np.exp(-1.0 / spec.prevention_delay_days)
            self._prevention_factor += (target - self._prevention_factor) * step
            factor = self._prevention_factor
            for m in self._markets:
                m.intensity += spec.recovery_per_day * (m.capacity * factor - m.intensity)
            kept = [m for m in self._markets if m.capacity > 0 or m.intensity > 1e-3]
            if len(kept) < len(self._markets):
                self._markets_read = None
            self._markets = kept

    def _neighbour(self, cell: int) -> int:
        if self._t.kind == "point":
            return cell
        # The neighbours on land, row by row (the table's order, -1 where there is none).
        options: list[int] = [c for c in self._neighbour_table[cell].tolist() if c >= 0]
        if not options:
            return cell
        if self._rng_behind:  # the crime stream goes on from the last hour's draws
            self._rng.bit_generator.state = self._history.bit_generator.state
            self._rng_behind = False
        return options[int(self._rng.integers(len(options)))]

    def offences_in_hour(self, hour: int) -> list[Incident]:
        """Draw the offences of [hour, hour + 1) and decide how each becomes known.

        Opportunities arise first: ordinary ones at the routine-activity rates, from
        a stream no policy touches; near repeats and drug markets at rates the run's
        history made, from the crime stream. Each opportunity belongs to an offender
        within reach (:meth:`OffenderPool.pick`); one in custody lets it pass
        (incapacitation); a free one commits the offence unless the risk they
        perceive deters them, and a deterred one may look next door instead
        (displacement), where the risk they perceive may deter them too (the patrol
        presence they perceive spreads over ``area_radius_cells``: diffusion of
        benefits).
        """
        hw = hour % HOURS_PER_WEEK
        hod = hour % 24
        now = float(hour)
        if hod == 0:
            self._new_day(now)
        later = self._later
        if later and later[0][0] <= now:  # most hours clear nobody
            self._clear_later(now)
        self._update_markets(hour)
        # The ordinary opportunities' count first (their stream is their own), then the
        # history's draw, which lays out the hour's uniforms: the ordinary rows first.
        ordinary = self._ordinary_count(hw)
        u, history = self._history_opportunities(hour, hod, ordinary)
        self._opportunities.random(out=u[:ordinary])
        out = self._commit(hour, u, ordinary, history) if u.shape[0] else []
        if hod == 0 and hour > 0:
            self._pop.daily_update(self._presence_day, self._victims_day)
            self._presence_day[:] = 0.0
            self._victims_day[:] = 0.0
        return out

    def _ordinary_count(self, hw: int) -> int:
        """How many opportunities arise at the standing routine-activity rates this hour.

        Drawn from the opportunity stream, which then draws their uniforms
        (:meth:`offences_in_hour`); :func:`simulator.crime.kernels.commit_hour`
        locates them.
        """
        total = self._ordinary_by_hour[hw]
        return int(self._opportunities.poisson(total)) if total > 0 else 0

    def _history_opportunities(
        self, hour: int, hod: int, ordinary: int
    ) -> tuple[FloatArray, kernels.History]:
        """The hour's fields, then its near-repeat and drug-market opportunities (the crime stream).

        In one compiled call (:func:`simulator.crime.kernels.hour_fields`): the
        patrol presence by cell, folded into what offenders remember of each place
        (an exponential average with time constant ``area_memory_h``: the presence
        around a target that offenders perceive is the police they have seen there
        over the last day or so, not whether a crew happens to pass this hour; with
        ``area_memory_h`` 0, this hour's presence); near-repeat risk fades and the
        markets' rates are made and summed (NumPy's sums); the totals of the hour's
        parts (the cells' risk for each type that repeats, the markets) are summed
        and the count drawn.

        Returns:
            The hour's uniforms, a row an opportunity: ``ordinary`` rows left for the
            ordinary opportunities, then the history-made ones, drawn; and what
            :func:`simulator.crime.kernels.locate_history` reads to place those.
        """
        at = self._risk_at
        markets = self._market_arrays() if self._markets and self._market_types else None
        kept, repeat_total, market_total = kernels.hour_fields(
            self._agency_strength,
            self._effective,
            self._area_field,
            self._area_keep,
            self._patrol,
            self._near_repeat,
            at,
            self._nr_decay,
            _NEGLIGIBLE_RATE,
            self._risk_scratch,
            self._scale_by_hour[hod],
            _NO_RATES if markets is None else markets.intensity,
            self._market_divisor,
            _NO_RATES if markets is None else markets.rates,
        )
        if kept < at.size:  # cells whose risk faded out this hour
            at = at[:kept]
            self._risk_at = at
        # The same sum for every type that repeats (the risk is the cell's).
        totals_of_parts = [repeat_total] * (self._repeat_rows.size if kept else 0)
        if markets is not None:
            totals_of_parts.append(market_total)
        if not totals_of_parts:
            return np.empty((ordinary, len(_UNIFORMS))), _NO_HISTORY
        total = _sum(totals_of_parts)
        # The hour's place in the stream, whatever was drawn before.
        rng = self._history
        rng.bit_generator.advance(hour * _HISTORY_STRIDE - self._history_at)  # type: ignore[attr-defined]
        count = _poisson_by_inversion(float(rng.random()), total)
        self._history_at = hour * _HISTORY_STRIDE + 1
        self._rng_behind = True
        u = np.empty((ordinary + count, len(_UNIFORMS)))
        if count == 0:
            return u, _NO_HISTORY
        rng.random(out=u[ordinary:])
        self._history_at += count * len(_UNIFORMS)
        # (locate_history reads no row that repeats while no cell has risk.)
        history = (
            self._near_repeat,
            at,
            self._repeat_rows,
            repeat_total,
            _NO_CELLS if markets is None else markets.flat,
            _NO_RATES if markets is None else markets.rates,
            -1.0 if markets is None else market_total,
            total,
        )
        return u, history

    def _guardianship(self, cells: IntArray, patrol: FloatArray, hour: int) -> FloatArray:
        """Guardianship an offender perceives at each cell (the exponent before deterrence).

        Standing guardians (CCTV, citizen watch), plus patrols in the cell (with
        residual deterrence) and ``area_weight`` times the mean remembered patrol
        presence over the square of ``area_radius_cells`` around it
        (:meth:`offences_in_hour`), both per person present there
        (:func:`crowd_factors`). For inspection (the tests read it): :meth:`_commit`
        reads the same values inside its compiled loop
        (:func:`simulator.crime.kernels.decide`).
        """
        out: FloatArray = kernels.guardianship(cells, self._guardians(patrol, hour))
        return out

    def _guardians(self, patrol: FloatArray, hour: int) -> kernels.Guardians:
        """What guardianship reads this hour, for :func:`simulator.crime.kernels._guard_at`."""
        t, spec = self._t, self.spec.offenders
        return (
            patrol,
            self._area_field,
            self._crowd[hour % HOURS_PER_WEEK],
            self._static_guard,
            spec.area_weight,
            t.nx,
            t.ny,
            spec.area_radius_cells,
        )

    def _commit(
        self, hour: int, u: FloatArray, ordinary: int, history: kernels.History
    ) -> list[Incident]:
        """Place the hour's opportunities, decide which become offences, and where; make them.

        ``u`` holds a row of uniforms an opportunity, the ``ordinary`` ones first,
        then those ``history`` places (:meth:`_history_opportunities`). Where each
        falls, who meets it (:meth:`OffenderPool.pick`), whether they act, here or
        next door, and the numbers of the offences, in time order, are worked out
        in one compiled call (:func:`simulator.crime.kernels.commit_hour`); the
        incidents are then made in that order (:meth:`_incidents`).
        """
        if self._deciding_near is not self._arrests_near:  # made again each day (_new_day)
            self._deciding = self._decision_arguments()
        if self._victims_of is not self._pop.spec:  # the residents' settings changed
            self._victims = self._victim_arguments()
        deciding = self._deciding
        # The exponential variates (-log(1 - u)) of each opportunity's reporting delay,
        # time on scene and stay, in one array call (read for the offences only). The
        # columns taken (C order whatever the count: one compiled version of the kernel
        # for all hours) by ``take``, a third of the time of an index by a list.
        lengths = -np.log1p(np.negative(u.take(_LENGTHS, axis=1)))
        hw = hour % HOURS_PER_WEEK
        numbers, values, first_time = kernels.commit_hour(
            float(hour),
            u,
            lengths,
            ordinary,
            self._cum_by_hour[hw],
            _WHERE,
            self._n_cells,
            history,
            self._order_index,
            _PICK_COLUMNS,
            _OFFENCE_COLUMNS,
            _KEPT_COLUMNS,
            self.offenders.picking,
            deciding,
            self._guarding[hw],
            self._seeing,
            self._victims,
            self._expected,
        )
        if not numbers.shape[0]:
            return []
        self._pop.victimised += first_time
        return self._incidents(numbers, values)

    def _trigger_near_repeat(self, cell: int) -> None:
        """Add the risk a burglary triggers: rate = triggered x share / tau at first.

        The cells of its box that now have risk join ``_risk_at``, which stays
        ascending (:func:`simulator.crime.grid_kernels.trigger_near_repeat`).
        """
        nr = self.spec.near_repeat
        t = self._t
        self._risk_at = grid_kernels.trigger_near_repeat(
            self._near_repeat,
            t.nx,
            t.ny,
            cell,
            nr.triggered,
            nr.same_cell_share,
            nr.decay_days * 24.0,
            self._land_flat,
            self._risk_at,
        )

    def _incidents(self, numbers: IntArray, values: FloatArray) -> list[Incident]:
        """The hour's offences that became known, as incidents, in time order.

        Row ``i`` of ``numbers`` holds offence ``i``'s type, cell and the integers of
        :func:`simulator.crime.kernels.offences` (how it became known, whether a unit
        is needed, an arrest if found on scene, the victim, the offender); row ``i``
        of ``values`` when it was committed, the doubles of that function (when it
        was reported...) and its uniforms of a later clearance, how long that takes,
        prison and how long (:data:`_KEPT_COLUMNS`). Here every offence gets its id
        and triggers its near repeats, in time order; the known ones are made into
        incidents and their clearances by investigation scheduled; the dark ones,
        final already, are kept as rows (:meth:`dark_offences`).
        """
        out: list[Incident] = []
        specs, names, new_id = self._type_specs, self.types, self._new_id
        district, commune, investigators = self._district, self._commune, self._investigator
        dark_ids, dark_at = self._dark_ids, []
        for row, (
            (k, cell, known_at, needs_unit, arrest, victim, offender),
            (
                at,
                reported_at,
                x_m,
                y_m,
                on_scene_h,
                follow_up_h,
                gone_h,
                fading,
                p_later,
                u_later,
                u_wait,
                u_prison,
                u_days,
            ),
        ) in enumerate(zip(numbers.tolist(), values.tolist(), strict=True)):
            ts = specs[k]
            incident_id = new_id()
            if ts.near_repeat:
                self._trigger_near_repeat(cell)
            if known_at == _DARK:  # nobody knows of it: no unit, no investigation, ever
                dark_ids.append((incident_id, ts.priority))
                dark_at.append(row)
                continue
            # Positional, in the order of Incident's fields: an offence costs half as
            # much to make as with keywords (most offences of a run are made here).
            incident = Incident(
                incident_id,
                IncidentKind.OFFENCE,
                names[k],
                ts.priority,
                cell,
                district[cell],
                commune[cell],
                x_m,
                y_m,
                at,
                reported_at,
                on_scene_h,
                follow_up_h,
                arrest == 1,
                None,  # parent_id
                _KNOWN[known_at],
                needs_unit == 1,
                victim,
                None,  # t_dispatched_h
                None,  # t_arrived_h
                None,  # t_cleared_h
                None,  # agency
                None,  # unit
                Outcome.OPEN if needs_unit else Outcome.RECORDED,
                offender,
                gone_h,
            )
            out.append(incident)
            # Cleared later by investigation, if a judicial agency is competent: the
            # chance falls with the reporting delay. NumPy's exp of one number is its
            # exp of an array's, to the bit, as NumPy picks its loop by the strides
            # (math.exp's last bit may differ where NumPy's exp is SIMD, as with AVX-512).
            investigator = investigators[cell]
            later = investigator >= 0 and u_later < p_later * np.exp(fading)
            if later:
                self._investigated.add(incident.incident_id)
                wait = ts.investigation_days * 24.0 * float(-np.log1p(-u_wait))
                heapq.heappush(
                    self._later,
                    (
                        reported_at + wait,
                        incident.incident_id,
                        incident,
                        self._agency_names[investigator],
                    ),
                )
            if (needs_unit and arrest) or later:  # keep the uniforms of an arrest's fate
                self._sentence[incident.incident_id] = (u_prison, u_days)
        if dark_at:
            self._dark_hours.append((numbers, values, dark_at))
        return out

    def _keep_dark_rows(self) -> None:
        """Keep the dark rows alone of the hours' tables kept so far (each day, and when asked)."""
        hours = self._dark_hours
        if not hours:
            return
        at: list[int] = []
        offset = 0
        for numbers, _, rows in hours:
            at += [offset + row for row in rows]
            offset += numbers.shape[0]
        self._dark_numbers.append(np.concatenate([h[0] for h in hours])[at])
        self._dark_values.append(np.concatenate([h[1] for h in hours])[at])
        hours.clear()

    def dark_offences(self) -> DarkOffences:
        """The offences nobody reported or saw so far, in the order of their ids.

        Kept as the rows the compiled kernel gave (:meth:`_incidents`), made into
        columns when asked (the recorder asks at the end, live views more often).
        """
        if len(self._dark_read) == len(self._dark_ids):
            return self._dark_read
        self._keep_dark_rows()
        if len(self._dark_numbers) > 1:  # one table from here on
            self._dark_numbers = [np.concatenate(self._dark_numbers)]
            self._dark_values = [np.concatenate(self._dark_values)]
        kept = np.array(self._dark_ids, dtype=np.int64).reshape(-1, 2)
        ints, floats = self._dark_numbers[0], self._dark_values[0]
        cell = ints[:, 1]
        self._dark_read = DarkOffences(
            incident_id=kept[:, 0],
            type=ints[:, 0],
            types=tuple(self.types),
            priority=kept[:, 1],
            cell=cell,
            district=self._t.district[cell],
            commune=self._t.commune[cell],
            x_m=floats[:, 2],
            y_m=floats[:, 3],
            t_occurred_h=floats[:, 0],
            t_reported_h=floats[:, 1],
            on_scene_h=floats[:, 4],
            follow_up_h=floats[:, 5],
            arrest=ints[:, 4] == 1,
            resident=ints[:, 5],
            offender=ints[:, 6],
            t_offender_gone_h=floats[:, 6],
        )
        return self._dark_read

    # ----------------------------------------------------------------- arrests

    def arrested(self, incident: Incident, agency: str, now: float) -> None:
        """A unit of ``agency`` arrested the offender of ``incident`` on scene, now.

        Told by the unit life cycle. The offence is cleared; the offender is held
        in custody and, with the type's chances, in prison after it; the arrest
        raises the risk they and their neighbours perceive.
        """
        if (
            incident.kind is not IncidentKind.OFFENCE
            or incident.offender < 0
            or incident.clearance is not None  # an investigation got them first
        ):
            return
        incident.clearance = "on_scene"
        incident.t_solved_h = now
        incident.arrest_agency = agency
        self._hold(incident, now)

    def escaped(self, incident: Incident) -> None:
        """Nobody was arrested on scene for ``incident``: forget its arrest's draws.

        An investigation under way may still clear it (they are kept for that).
        """
        if incident.incident_id not in self._investigated:
            self._sentence.pop(incident.incident_id, None)

    def _clear_later(self, now: float) -> None:
        """Clearances by investigation due by ``now``: the offender is arrested then."""
        later = self._later
        while later and later[0][0] <= now:
            when, _, incident, agency = heapq.heappop(later)
            self._investigated.discard(incident.incident_id)
            if incident.clearance is not None:
                self._sentence.pop(incident.incident_id, None)
                continue  # arrested on scene meanwhile
            incident.clearance = "later"
            incident.t_solved_h = when
            incident.arrest_agency = agency  # the agency that took the report investigates
            self._hold(incident, when)

    def _hold(self, incident: Incident, now: float) -> None:
        ts = self.spec.types[incident.type]
        u_prison, u_days = self._sentence.pop(incident.incident_id, (1.0, 0.5))
        held_h = self.spec.offenders.custody_h
        if u_prison < ts.prison_prob:
            held_h += ts.prison_days * 24.0 * float(-np.log1p(-u_days))
        self._arrests_grid[incident.cell] += 1.0
        slot = self.offenders.slot_of(incident.offender)
        if slot is not None:  # a career may have ended before a later clearance
            self.offenders.arrested(slot, now, held_h)

    def _new_day(self, now: float) -> None:
        """Careers that end and begin; arrests fade from memory and are summed around homes.

        The day's dark offences are kept as their rows alone (:meth:`_keep_dark_rows`).
        """
        self._keep_dark_rows()
        self.offenders.advance(now)
        memory_h = self.spec.offenders.memory_days * 24.0
        self._arrests_grid *= np.exp(-24.0 / memory_h)
        t = self._t
        reach = self.spec.offender_range_cells
        near = self._arrests_grid + (
            neighbour_sum(self._arrests_grid, t.nx, t.ny, reach) if t.kind != "point" else 0.0
        )
        self._arrests_near = near * self._per_1000_near
