"""Dotted keys: how every part of secsim names one setting of a scenario.

``agencies.state_police.budget_eur`` or ``cctv.zones.0.coverage``: mapping keys
and list positions joined by dots. The same keys are written after ``--set``, in
a timeline's ``set:``, in an experiment's factors and outputs and by the
dashboard's levers; this module is the one place that reads, walks and writes
them, so that they mean the same thing everywhere.
"""

from __future__ import annotations

from typing import Any

Path = tuple[str | int, ...]


def dotted(path: Path) -> str:
    """Render a key path the way users write it in ``--set``: ``agencies.pm.units``."""
    return ".".join(str(p) for p in path) if path else ""


def parse_key(key: str) -> Path:
    """The path a dotted key names (digits name list positions).

    Raises:
        ValueError: If the key is empty or has an empty segment (``a..b``).
    """
    if not key:
        raise ValueError("empty dotted key")
    path: Path = tuple(int(p) if p.isdigit() else p for p in key.split("."))
    if any(p == "" for p in path):
        raise ValueError("empty segment in the dotted key")
    return path


def set_value(data: dict[str, Any], path: Path, value: Any) -> None:
    """Set ``value`` at ``path`` in nested mappings and lists, creating mappings on the way.

    Mapping keys are names (``agencies.1`` names an agency called "1"); a list
    position must exist (a setting cannot add an item to a list); a
    missing mapping on the way is created, so that ``--set cctv.operators=2``
    works on a scenario that has no ``cctv`` block.

    Raises:
        ValueError: If the path goes through a value that is neither a mapping nor a
            list, or names a list position that does not exist.
    """
    node: Any = data
    for depth, key in enumerate(path[:-1]):
        if isinstance(node, list):
            node = node[_position(node, key, path[: depth + 1])]
            continue
        if not isinstance(node, dict):
            raise ValueError(f"'{dotted(path[:depth])}' is not a mapping")
        nxt = node.get(str(key))
        if nxt is None:
            nxt = {}
            node[str(key)] = nxt
        node = nxt
    last = path[-1]
    if isinstance(node, list):
        node[_position(node, last, path)] = value
    elif isinstance(node, dict):
        node[str(last)] = value
    else:
        raise ValueError(f"'{dotted(path[:-1])}' is not a mapping")


def _position(items: list[Any], key: str | int, path: Path) -> int:
    if not isinstance(key, int) or not 0 <= key < len(items):
        raise ValueError(f"'{dotted(path)}': no item {key} in this list")
    return key


def missing_part(data: Any, path: Path) -> tuple[Path, list[str]] | None:
    """Where ``path`` stops naming a value of ``data``, and what was there instead.

    Returns:
        None if the path names a value; otherwise the path up to and including the
        first part that names nothing, and the keys of the mapping where it was
        looked for (empty when that was not a mapping).
    """
    node = data
    for depth, part in enumerate(path):
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        else:
            choices = [str(k) for k in node] if isinstance(node, dict) else []
            return path[: depth + 1], choices
    return None
