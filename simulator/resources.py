"""Will a scenario fit in memory? Estimated before anything is allocated.

The estimate is ``fixed + cells x bytes per cell + residents x bytes per
resident``, with figures measured by ``benchmarks/bench_memory.py`` (peak
resident memory of a two-day run of the baseline with 4,900 to 78,400 cells and
150,000 to 1,500,000 residents, least-squares fit; 2-core Linux machine, CPython
3.12, numpy 2.5, mesa 3.5.1, numba 0.68, 2026-12-06): 15,332 bytes per cell, 75
per resident, 268 MiB of interpreter and libraries (Numba's compiler among them)
plus 50 MiB. Records of a long run come on top (the baseline's peak grows from
about 400 MiB over two days to 520 MiB over a year, README "Performance"), so the
estimate is a floor: it catches a territory or population that can never fit,
not a run that is merely long.

The limit is the memory available now (``MemAvailable`` of ``/proc/meminfo``),
or ``SECSIM_MEMORY_LIMIT_MB`` when set (for machines without ``/proc``, or to
keep room for other work).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from simulator.scenario.schema import Scenario, TerritorySpec
from simulator.world.territory_file import size_of

BYTES_PER_CELL = 15_300
BYTES_PER_RESIDENT = 75
FIXED_BYTES = (268 + 50) * 2**20
LIMIT_VARIABLE = "SECSIM_MEMORY_LIMIT_MB"


class ResourceError(Exception):
    """A scenario (or a batch of them) would not fit in the memory available."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Memory a run of a scenario needs at least.

    Attributes:
        cells: Cells of the territory.
        residents: Residents of the territory.
        bytes: Estimated peak resident memory of one run, bytes.
    """

    cells: int
    residents: int
    bytes: int

    def explain(self) -> str:
        """The estimate with its parts, for a message."""
        return (
            f"{_size(self.bytes)} ({self.cells:,} cells x {BYTES_PER_CELL:,} B + "
            f"{self.residents:,} residents x {BYTES_PER_RESIDENT} B + "
            f"{_size(FIXED_BYTES)} for the program)"
        )


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def territory_cells(spec: TerritorySpec) -> int:
    """Cells the territory will have (as `build_territory` lays it out)."""
    if spec.kind == "point":
        return 1
    side = max(4, round(spec.extent_km * 1000.0 / spec.cell_m))
    return side * side


def estimate(scenario: Scenario) -> MemoryEstimate:
    """Estimated memory of one run of ``scenario``."""
    spec = scenario.territory
    size = size_of(spec) if spec.kind == "file" else None
    if size is not None:
        cells, residents = size
    else:
        cells = territory_cells(spec)
        residents = sum(c.residents for c in spec.communes)
    total = FIXED_BYTES + cells * BYTES_PER_CELL + residents * BYTES_PER_RESIDENT
    return MemoryEstimate(cells, residents, total)


def memory_limit() -> tuple[int | None, str]:
    """Bytes that may be used, and where the figure comes from (None: unknown)."""
    value = os.environ.get(LIMIT_VARIABLE)
    if value:
        try:
            mib = float(value)
        except ValueError:
            mib = math.nan
        if not math.isfinite(mib) or mib <= 0:
            raise ResourceError(
                f"{LIMIT_VARIABLE}={value!r} is not a positive number of MiB (e.g. 4096)"
            )
        return int(mib * 2**20), LIMIT_VARIABLE
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024, "memory available (/proc/meminfo)"
    except (OSError, ValueError, IndexError):
        pass
    return None, "unknown"


def check_fits(scenario: Scenario, copies: int = 1) -> MemoryEstimate:
    """Refuse a scenario whose runs (``copies`` at once) would not fit in memory.

    Raises:
        ResourceError: With the estimate and the limit.
    """
    need = estimate(scenario)
    limit, source = memory_limit()
    if limit is not None and need.bytes * copies > limit:
        at_once = f" x {copies} runs at once" if copies > 1 else ""
        hint = " (use fewer --workers)" if copies > 1 else ""
        raise ResourceError(
            f"scenario '{scenario.name}' would need about {need.explain()}{at_once}, more than "
            f"the {_size(limit)} of {source}{hint}; use larger cells "
            "(territory.cell_m) or fewer residents"
        )
    return need
