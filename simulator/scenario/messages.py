"""Plain-language messages for schema violations, with did-you-mean suggestions."""

from __future__ import annotations

import datetime
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from simulator.scenario.errors import did_you_mean, did_you_mean_hint
from simulator.scenario.keys import Path
from simulator.scenario.schema import DEFAULT_ENTRIES, Scenario

# A number written with a decimal comma (0,5; -1,25), as French writes them.
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _unwrap(annotation: Any) -> Any:
    """An optional or union type reduced to its first structured member (model or container)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if _model_of(a) or typing.get_origin(a)]
        return members[0] if members else None
    return annotation


def _allowed_keys(path: Path, root: type[BaseModel] = Scenario) -> list[str]:
    """The keys a user may write in the mapping at ``path`` (for did-you-mean)."""
    current: Any = root
    for key in path:
        current = _unwrap(current)
        model = _model_of(current)
        if model is not None:
            field = model.model_fields.get(str(key))
            if field is None:
                return []
            current = field.annotation
            continue
        origin, args = typing.get_origin(current), typing.get_args(current)
        if origin in (dict, Mapping) and len(args) == 2:
            current = args[1]
        elif origin in (list, Sequence) and args:
            current = args[0]
        else:
            return []
    model = _model_of(_unwrap(current))
    return list(model.model_fields) if model is not None else []


def _named_entries(path: Path, data: Mapping[str, Any], root: type[BaseModel]) -> list[str]:
    """The names of the mapping of named entries at ``path``: those written, and its defaults.

    For ``crime.types``, the six offence types a scenario has without writing them.
    """
    names: list[str] = []
    written: Any = data
    for key in path:
        written = written.get(key) if isinstance(written, Mapping) else None
    if isinstance(written, Mapping):
        names += [str(k) for k in written]
    model = _model_of(_unwrap(root))
    for key in path[:-1]:
        field = model.model_fields.get(str(key)) if model is not None else None
        model = _model_of(_unwrap(field.annotation)) if field is not None else None
    field = model.model_fields.get(str(path[-1])) if model is not None and path else None
    if field is not None and field.default_factory is not None:
        try:
            default = field.default_factory()  # type: ignore[call-arg]
        except TypeError:  # a factory that reads the other fields
            default = None
        if isinstance(default, Mapping):
            names += [str(k) for k in default if str(k) not in names]
    return names


def _default_entries_written(
    path: Path, data: Mapping[str, Any]
) -> tuple[str, str, dict[str, Any]] | None:
    """The block, the entry and its settings, for a key missing from a default entry.

    ``crime.types.burglary`` written in part in a file (its ``rate_per_1000`` alone):
    the file's ``crime.types`` replaces the default types whole, so its burglary lacks
    the rest. None for any other missing key.
    """
    if len(path) != 4:
        return None
    section, key, name = str(path[0]), str(path[1]), str(path[2])
    defaults = DEFAULT_ENTRIES.get((section, key))
    part = data.get(section)
    collection = part.get(key) if isinstance(part, Mapping) else None
    if defaults is None or name not in defaults() or not isinstance(collection, Mapping):
        return None
    entry = collection.get(name)
    written = dict(entry) if isinstance(entry, Mapping) else {}
    return f"{section}.{key}", name, written


def describe_error(
    err: ErrorDetails, data: Mapping[str, Any], root: type[BaseModel] = Scenario
) -> tuple[Path, str]:
    """The dotted path and a message a policy analyst can act on, for one pydantic error.

    Args:
        err: One error from ``ValidationError.errors()``.
        data: The raw mapping that failed (for suggestions).
        root: The model of the whole file (a scenario, or an experiment).
    """
    path: Path = tuple(p for p in err["loc"] if not isinstance(p, str) or "[" not in p)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1], root)
        word = str(path[-1])
        msg = f"unknown key '{word}'{did_you_mean_hint(word, allowed)}"
        if allowed:
            msg += f"; allowed keys: {', '.join(allowed)}"
        return path, msg
    if kind == "missing":
        agencies = data.get("agencies")
        if (
            len(path) == 3
            and path[0] == "agencies"
            and path[2] == "kind"
            and isinstance(agencies, Mapping)
        ):
            name = str(path[1])
            others = [
                a
                for a in agencies
                if a != name and isinstance(agencies[a], Mapping) and "kind" in agencies[a]
            ]
            block = agencies.get(name)
            typo = difflib.get_close_matches(
                name.casefold(), [a.casefold() for a in others], n=1, cutoff=0.8
            )
            if isinstance(block, Mapping) and block and not typo:
                # Settings without a kind, and no agency of a close name: most likely a
                # declared agency whose block a --set or a timeline's set: replaced whole.
                first = next(iter(block))
                return path, (
                    f"agency '{name}' has no kind: a new agency needs at least its kind and "
                    "its resources (to change a declared agency from a --set or a "
                    "timeline's set:, change one setting by its dotted key, e.g. "
                    f"agencies.{name}.{first}=...: its whole block would replace it)"
                )
            msg = f"agency '{name}' is not declared{did_you_mean_hint(name, others)}"
            return path, msg + "; a new agency needs at least its kind and its resources"
        entries = _default_entries_written(path, data)
        if entries is not None:
            block, name, written = entries
            example = ", ".join(f"--set {block}.{name}.{k}={v}" for k, v in written.items())
            return path, (
                f"required key is missing: {block}, written in a file, replaces the default "
                f"entries whole, so '{name}' here is a new entry that needs every key; to "
                f"change a setting of the default '{name}' and keep the rest, use "
                f"{example or f'--set {block}.{name}.<setting>=...'} (or a timeline's set:)"
            )
        if len(path) >= 3:
            name = str(path[-2])
            known = [n for n in _named_entries(path[:-2], data, root) if n != name]
            near = did_you_mean(name, known)
            if near is not None:  # a misspelt name makes a new entry, which lacks this key
                parent = ".".join(str(p) for p in path[:-2])
                return path, (
                    f"required key is missing: '{name}' is a new entry of {parent} (did you "
                    f"mean '{near}'?)"
                )
        return path, "required key is missing"
    text = str(err["msg"]).removeprefix("Value error, ")
    found = err.get("input")
    if kind == "list_type" and isinstance(found, dict) and all(str(k).isdigit() for k in found):
        # A --set into an item of a list the scenario does not have made a mapping.
        return path, (
            "this list has no item to change here: write the whole list, e.g. --set "
            f"'{'.'.join(str(p) for p in path)}=[...]' (a --set may change an item only where "
            "the list has one)"
        )
    if kind in ("list_type", "dict_type") and found is None:  # "timeline:" with nothing after
        empty = "[]" if kind == "list_type" else "{}"
        return path, f"{text} (found nothing after the key: write {empty} for none)"
    if kind == "model_type":  # "a valid dictionary or instance of AgencySpec": our class name
        shown = "nothing" if found is None else repr(found)
        return path, f"expected a mapping of settings (key: value lines), found {shown}"
    if isinstance(found, dict | list):
        return path, text
    if kind == "invalid_key" and isinstance(found, int | float) and not isinstance(found, bool):
        # {field_share: 0,5}: YAML reads a decimal comma in a flow mapping as a new key.
        return path, (
            f"a key that is a number ({found}): a decimal comma? Inside {{ }} YAML reads "
            f"'0,{found}' as 0 and a key {found}: write numbers with a point (0.{found})"
        )
    if isinstance(found, str) and _DECIMAL_COMMA.match(found):
        return path, f"{text} (found {found!r}: write numbers with a decimal point, not a comma)"
    if isinstance(found, datetime.date):  # 2024-03-01 unquoted: YAML's date
        return path, (
            f"{text} (found {found.isoformat()}, which YAML reads as a date: write a "
            "number, or put text in quotes)"
        )
    return path, f"{text} (found {found!r})"
