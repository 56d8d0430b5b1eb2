"""Dotted keys mean the same thing in --set, timelines, experiments and levers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.scenario.keys import dotted, missing_part, parse_key, set_value

names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
paths = st.lists(st.one_of(names, st.integers(0, 3)), min_size=1, max_size=4).map(tuple)


def _get(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part] if isinstance(data, list) else data[str(part)]
    return data


@given(paths)
def test_a_key_reads_back_as_the_path_it_was_written_from(path: tuple[str | int, ...]) -> None:
    assert parse_key(dotted(path)) == path


@given(st.lists(names, min_size=1, max_size=4).map(tuple), st.integers())
def test_a_value_set_on_a_new_path_is_found_there(path: tuple[str, ...], value: int) -> None:
    data: dict[str, Any] = {"other": 1}
    set_value(data, path, value)
    assert missing_part(data, path) is None
    assert _get(data, path) == value
    assert data["other"] == 1 or path == ("other",)


def test_list_positions_must_exist_and_mappings_are_created() -> None:
    data: dict[str, Any] = {"cctv": {"zones": [{"coverage": 0.1}]}}
    set_value(data, parse_key("cctv.zones.0.coverage"), 0.5)
    assert data["cctv"]["zones"][0]["coverage"] == 0.5
    with pytest.raises(ValueError, match="no item 3 in this list"):
        set_value(data, parse_key("cctv.zones.3.coverage"), 0.5)
    set_value(data, parse_key("demand.on_scene.mean_min"), 30)
    assert data["demand"] == {"on_scene": {"mean_min": 30}}
    with pytest.raises(ValueError, match="is not a mapping"):
        set_value(data, parse_key("demand.on_scene.mean_min.x"), 1)


def test_agency_names_made_of_digits_stay_names() -> None:
    data: dict[str, Any] = {"agencies": {"17": {"units": 2}}}
    set_value(data, parse_key("agencies.17.units"), 3)
    assert data["agencies"] == {"17": {"units": 3}}
    assert missing_part(data, parse_key("agencies.17.units")) is None


def test_missing_part_says_where_the_key_stops_and_what_was_there() -> None:
    data = {"agencies": {"state_police": {"units": 2, "budget_eur": None}}}
    assert missing_part(data, parse_key("agencies.state_polise.units")) == (
        ("agencies", "state_polise"),
        ["state_police"],
    )
    assert missing_part(data, parse_key("agencies.state_police.units.x")) == (
        ("agencies", "state_police", "units", "x"),
        [],
    )


@pytest.mark.parametrize("bad", ["", "a..b", ".a", "a."])
def test_empty_segments_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        parse_key(bad)
