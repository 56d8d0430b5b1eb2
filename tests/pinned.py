"""Comparing a run's outputs with a copy pinned in ``tests/data``.

A run gives the same numbers to the bit on one machine, whatever the number of
workers. Between machines the last bits of some doubles may differ: NumPy picks
the code of ``exp``, ``log``, ``hypot`` and others by the processor (SIMD code on
AVX-512, the C library's elsewhere), and a response time or a mean that goes
through them may move by a few units of the last place. A pinned summary is
therefore compared key for key, in the same order, with the same types, every
integer, string and flag exactly, and each double within :data:`RELATIVE` of the
pinned one: a change of the model moves outputs by far more than that. A change
meant to leave outputs identical to the bit (the order of a sum, say, moves them by
about 1e-16) is checked on one machine with ``benchmarks/fingerprint.py`` instead.
"""

from __future__ import annotations

import math
from typing import Any

RELATIVE = 1e-12  # a few thousand units of the last place, far below any change of the model


def differences(got: Any, pinned: Any, path: str = "") -> list[str]:
    """Where ``got`` departs from ``pinned`` (parsed JSON), as readable lines; none if alike."""
    if isinstance(pinned, dict):
        if not isinstance(got, dict):
            return [f"{path or '/'}: {type(got).__name__} where the pin has an object"]
        if list(got) != list(pinned):
            return [f"{path or '/'}: keys {list(got)} where the pin has {list(pinned)}"]
        return [
            line for key in pinned for line in differences(got[key], pinned[key], f"{path}/{key}")
        ]
    if isinstance(pinned, list):
        if not isinstance(got, list) or len(got) != len(pinned):
            return [f"{path}: {got!r} where the pin has {pinned!r}"]
        return [
            line
            for i, (a, b) in enumerate(zip(got, pinned, strict=True))
            for line in differences(a, b, f"{path}[{i}]")
        ]
    if isinstance(pinned, float) and isinstance(got, float):
        if math.isclose(got, pinned, rel_tol=RELATIVE) or (math.isnan(got) and math.isnan(pinned)):
            return []
        return [f"{path}: {got!r} where the pin has {pinned!r}"]
    if type(got) is not type(pinned) or got != pinned:
        return [f"{path}: {got!r} where the pin has {pinned!r}"]
    return []


def assert_as_pinned(got: Any, pinned: Any) -> None:
    """Fail, listing every difference, unless ``got`` is ``pinned`` (see :func:`differences`)."""
    found = differences(got, pinned)
    assert not found, "not as pinned:\n" + "\n".join(found[:40])
