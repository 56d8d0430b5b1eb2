"""Numba's compilation, as secsim's kernels use it: cached where it can be.

The kernels (:mod:`simulator.crime.kernels`, :mod:`simulator.crime.pool_kernels`,
:mod:`simulator.crime.grid_kernels`, :mod:`simulator.agencies.kernels`,
:mod:`simulator.world.kernels`, :mod:`simulator.records.kernels`) are compiled on
first use and the machine code kept beside them (``__pycache__``), or in
``NUMBA_CACHE_DIR`` when set, or in the user's cache folder. Where none of these
can be written (a read-only installation without a home folder), Numba refuses to
cache: the kernels are then compiled in each process instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from numba import njit


def compiled[F: Callable[..., Any]](function: F) -> F:
    """``function`` compiled in nopython mode, without the GIL, cached if possible."""
    try:
        kernel = njit(cache=True, nogil=True)(function)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        kernel = njit(nogil=True)(function)
    return cast(F, kernel)  # called as the function it compiles
