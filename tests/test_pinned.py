"""The comparison with pinned outputs (:mod:`tests.pinned`) lets only the last bits move."""

from __future__ import annotations

import math

import pytest

from .pinned import assert_as_pinned, differences


def test_the_last_bits_of_a_double_may_move() -> None:
    pinned = {"mean": 13.830870057860334, "ci95": [13.38562264692813, 14.276117468792538]}
    got = {"mean": 13.830870057860338, "ci95": [13.385622646928136, 14.27611746879254]}
    assert differences(got, pinned) == []
    assert differences({"x": math.nan}, {"x": math.nan}) == []


@pytest.mark.parametrize(
    ("got", "pinned"),
    [
        ({"mean": 13.8308701}, {"mean": 13.8308700}),  # a change of the model
        ({"calls": 12733}, {"calls": 12732}),  # counts are exact
        ({"calls": 12732.0}, {"calls": 12732}),  # and keep their type
        ({"b": 1, "a": 2}, {"a": 2, "b": 1}),  # keys in the pinned order
        ({"a": 1}, {"a": 1, "b": 2}),
        ({"a": [1.0, 2.0]}, {"a": [1.0]}),
        ({"a": "dark"}, {"a": "recorded"}),
        ({"a": None}, {"a": 0.0}),
        ({"a": 0.0}, {"a": 1e-300}),  # no absolute slack around zero
    ],
)
def test_anything_else_is_a_difference(got: object, pinned: object) -> None:
    assert differences(got, pinned)
    with pytest.raises(AssertionError, match="not as pinned"):
        assert_as_pinned(got, pinned)
