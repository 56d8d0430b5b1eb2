"""Compiled loops over the residents, once a day (:func:`simulator.compiled.compiled`).

A day's update of trust and fear is a few float32 operations per resident; on
NumPy it took a dozen passes over arrays of every resident (a million and a
half in a metropolitan area). Here it is one pass, with the same float32
operations in the same order, so the same values to the bit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.compiled import compiled

Float32Array = NDArray[np.float32]


@compiled
def daily_update(
    first: NDArray[np.int64],
    gain: Float32Array,
    worry: Float32Array,
    trust: Float32Array,
    trust0: Float32Array,
    fear: Float32Array,
    recovery: np.float32,
    fear_keep: np.float32,
) -> None:
    """Trust and fear of every resident after a day (:meth:`Population.daily_update`), in place.

    The residents of cell ``c`` are ``first[c]`` to ``first[c + 1]``; ``gain`` (what
    patrol presence adds to trust) and ``worry`` (what offences nearby add to fear)
    are by cell. Trust then relaxes towards ``trust0`` by ``recovery``, and fear
    keeps ``fear_keep`` of itself. All in float32, as the arrays are.
    """
    one = np.float32(1.0)
    recovery = np.float32(recovery)  # float32 arithmetic whatever the caller passed
    fear_keep = np.float32(fear_keep)
    for c in range(first.size - 1):
        g = gain[c]
        w = worry[c]
        # The cell's residents as views indexed from 0: an index known not to be
        # negative lets the compiler run the loop on vectors (four times faster).
        start, stop = first[c], first[c + 1]
        cell_trust, cell_trust0, cell_fear = trust[start:stop], trust0[start:stop], fear[start:stop]
        for r in range(stop - start):
            t = cell_trust[r]
            t = t + (one - t) * g
            cell_trust[r] = t + (cell_trust0[r] - t) * recovery
            f = cell_fear[r]
            f = f + (one - f) * w
            cell_fear[r] = f * fear_keep
