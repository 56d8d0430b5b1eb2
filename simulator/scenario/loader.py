"""Read scenario files: YAML in, a frozen :class:`Scenario` (or every problem) out.

The loader keeps the position of every key of the YAML file, so that each
problem (a schema violation, an unknown key, a cross-field inconsistency)
names the file, the line, the column and the dotted key. Overrides given on
the command line (``--set dotted.key=value``) are applied to the raw mapping
before validation and are reported as their own source.
"""

from __future__ import annotations

import copy
import json
import re
from collections import deque
from collections.abc import Sequence
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from simulator.scenario.checks import advisory_findings, semantic_findings
from simulator.scenario.errors import Problem, ScenarioError
from simulator.scenario.keys import Path, dotted, parse_key, set_value
from simulator.scenario.messages import describe_error
from simulator.scenario.schema import Scenario, ScenarioCheck, write_default_entries
from simulator.scenario.timeline import policy_changes, timeline_notes

Mark = tuple[str, int | None, int | None]


class OptionOverride(str):
    """An override a command-line option makes (``--days 30`` is ``run.days=30``).

    Its problems name the option the user typed, not a ``--set`` they did not.
    """

    label: str

    def __new__(cls, text: str, label: str) -> OptionOverride:
        """``text`` as a ``--set`` writes it; ``label``, the option as typed."""
        made = super().__new__(cls, text)
        made.label = label
        return made


def _keyed(path: Path) -> tuple[str, ...]:
    """``path`` with every part as text, so that its marks are found however it is written.

    A list's index 0 and a mapping's key ``"0"`` (as pydantic names an entry, or a
    ``--set`` wrote it) are then one.
    """
    return tuple(str(k) for k in path)


class Positions:
    """Where each key path was written: file and line, or the ``--set`` argument."""

    def __init__(self, default_source: str):
        self.default_source = default_source
        self._marks: dict[tuple[str, ...], Mark] = {}

    def add(self, path: Path, source: str, line: int | None, column: int | None) -> None:
        """Record where ``path`` was written."""
        self._marks[_keyed(path)] = (source, line, column)

    def override(self, path: Path, source: str) -> None:
        """``path`` (and everything under it) now comes from ``source`` (a ``--set``).

        So do the entries above it that no file wrote: a ``--set`` that makes a new
        entry (a misspelt offence type, say) is blamed for what that entry lacks.
        """
        keyed = _keyed(path)
        for key in [k for k in self._marks if k[: len(keyed)] == keyed]:
            del self._marks[key]
        self._marks[keyed] = (source, None, None)
        for n in range(len(keyed) - 1, 0, -1):
            if keyed[:n] in self._marks:
                break
            self._marks[keyed[:n]] = (source, None, None)

    def copy(self) -> Positions:
        """An independent copy (overriding it leaves this one as it is)."""
        twin = Positions(self.default_source)
        twin._marks = dict(self._marks)
        return twin

    def update(self, other: Positions) -> None:
        """Take every mark of ``other`` (a file that overrides this one)."""
        self._marks.update(other._marks)

    def find(self, path: Path) -> Mark:
        """Where ``path`` was written, and which ``--set`` changed it if one did.

        The mark of ``path`` or of its closest ancestor. When the file wrote it and a
        ``--set`` wrote below it (``service_hours.0=25`` under ``service_hours``), the
        file's place is named with that ``--set`` beside it: the problem may be the
        ``--set``'s or the file's. An entry no file wrote takes the mark of the
        ``--set`` that made it.
        """
        keyed = _keyed(path)
        below = [
            m
            for k, m in self._marks.items()
            if len(k) > len(keyed) and k[: len(keyed)] == keyed and m[0].startswith("--set")
        ]
        if keyed not in self._marks and below:
            return below[0]
        mark = next(
            (m for n in range(len(keyed), -1, -1) if (m := self._marks.get(keyed[:n]))), None
        )
        if mark is None:
            mark = (self.default_source, None, None)
        if keyed and below and not mark[0].startswith("--set"):
            source, line, column = mark
            where = source if line is None else f"{source}:{line}:{column or 1}"
            return (f"{where} (changed by {below[0][0]})", None, None)
        return mark


# Far above any real scenario (the baseline has about 600): a file that expands beyond it
# is an alias bomb ("billion laughs") or not a scenario, and is refused before it is walked.
MAX_VALUES = 100_000


class _TooLarge(Exception):
    pass


_MERGE = "tag:yaml.org,2002:merge"


_BOOL = "tag:yaml.org,2002:bool"
_STR = "tag:yaml.org,2002:str"


def _keys_as_written(root: yaml.Node) -> None:
    """Read a key that YAML 1.1 takes for true or false (``on``, ``no``, ``yes``...) as its text.

    No key of a scenario or experiment is a truth value: read as ``True``, such a key
    would give a message about a key ``1``; read as written, it gets the message of a
    key that is not known, with the keys that are. Values are left as they are.
    """
    done: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in done:
            continue
        done.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _BOOL:
                    key_node.tag = _STR
                stack += (key_node, value_node)
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def _duplicate_keys(root: yaml.Node, source: str) -> list[Problem]:
    """Keys written twice in a mapping, and numbers written with a leading zero.

    Keys as the file writes them (before YAML merges); a number such as ``060`` YAML
    reads in base 8, as 48. Read before the document is built: building it merges
    YAML's ``<<: *anchor`` into the mapping, where a key written beside the merge
    rightly wins over the anchor's and is no duplicate. Each node is read once,
    aliases included.
    """
    problems: list[Problem] = []
    done: set[int] = set()
    # In the document's order: an anchored mapping is reached first where it is written,
    # not through a later alias, so a duplicate in it is named by its own path.
    queue: deque[tuple[yaml.Node, Path]] = deque([(root, ())])
    while queue:
        node, path = queue.popleft()
        if id(node) in done:
            continue
        done.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    queue.append((value_node, path))
                    continue
                if _zero_padded(key_node):
                    queue.append((key_node, path))
                key = str(key_node.value)
                if key in seen:
                    mark = key_node.start_mark
                    problems.append(
                        Problem(
                            source,
                            mark.line + 1,
                            mark.column + 1,
                            (*path, key),
                            "key written twice; the second would silently win",
                        )
                    )
                seen.add(key)
                queue.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            queue.extend((item, (*path, i)) for i, item in enumerate(node.value))
        elif _zero_padded(node):
            mark = node.start_mark
            problems.append(
                Problem(source, mark.line + 1, mark.column + 1, path, _octal(str(node.value)))
            )
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def _zero_padded(node: yaml.Node) -> bool:
    """A plain number with a leading zero that YAML 1.1, reading it in base 8, changes.

    ``010`` is read as 8; ``07`` (an hour, say) is 7 either way and is left alone.
    """
    return (
        isinstance(node, yaml.ScalarNode)
        and node.tag == "tag:yaml.org,2002:int"
        and _octal_differs(str(node.value))
    )


def _octal_differs(written: str) -> bool:
    """Whether a number written with a leading zero means another number in base 8."""
    if re.fullmatch(r"[-+]?0[0-9_]+", written) is None:
        return False
    digits = written.replace("_", "").lstrip("+-")
    return int(digits, 8) != int(digits, 10)


def _octal(written: str) -> str:
    """The message for a number YAML reads in base 8 (:func:`_octal_differs`)."""
    sign = "-" if written.startswith("-") else ""
    meant = sign + (written.replace("_", "").lstrip("+-0") or "0")
    return (
        f"{written} is read by YAML as an octal number ({yaml.safe_load(written)}), not as "
        f"{meant}: write it without the leading zero, or in quotes if it is a code "
        f"('{written}')"
    )


def _walk(
    node: yaml.Node,
    path: Path,
    source: str,
    pos: Positions,
    budget: list[int] | None = None,
) -> None:
    budget = [MAX_VALUES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    pos.add(path, source, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            _walk(value_node, child, source, pos, budget)
            # Point at the key rather than its value: that is where the user looks.
            pos.add(child, source, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), source, pos, budget)


def read_yaml(path: FsPath, pos: Positions) -> dict[str, Any]:
    """Read a YAML mapping, recording the position of every key in ``pos``.

    Raises:
        ScenarioError: If the file cannot be read, is not YAML, or is not a mapping.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem(source, None, None, (), f"cannot read file: {exc.strerror}")
        raise ScenarioError([problem]) from None
    except UnicodeDecodeError as exc:
        raw = exc.object if isinstance(exc.object, bytes) else b""
        bad_line = raw.count(b"\n", 0, exc.start) + 1
        bad_column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        problem = Problem(
            source,
            bad_line,
            bad_column,
            (),
            f"not a UTF-8 text file (byte 0x{raw[exc.start]:02x} here"
            " cannot be read as UTF-8: save the file as UTF-8)"
            if exc.start < len(raw)
            else "not a UTF-8 text file",
        )
        raise ScenarioError([problem]) from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _keys_as_written(node)
            duplicates = _duplicate_keys(node, source) if node is not None else []
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.constructor.ConstructorError as exc:
        # The safe loader builds plain data only: a tag such as !!python/object is refused.
        mark = exc.problem_mark or exc.context_mark
        tag = (exc.problem or "").rpartition("tag ")[2].strip("'") or "this tag"
        tag = tag.replace("tag:yaml.org,2002:", "!!")
        problem = Problem(
            source,
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
            (),
            f"tag {tag} is not allowed: scenario and experiment files are data (mappings, "
            "lists, numbers, text), and no tag may build a Python object",
        )
        raise ScenarioError([problem]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        what = " ".join(filter(None, [exc.context, exc.problem]))
        if "mapping values are not allowed" in what:
            what += (
                " (a value holding ': ' must be in quotes, as in description: 'Plan: more "
                "officers'; else check the indentation of this line and of those above it)"
            )
        elif "expected <block end>" in what:
            what += " (check the indentation of this line and of the lines above it)"
        problem = Problem(source, line, column, (), f"malformed YAML: {what}")
        raise ScenarioError([problem]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (a NUL byte...)
        at = int(exc.position)
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problem = Problem(
            source,
            text.count("\n", 0, at) + 1,
            at - (text.rfind("\n", 0, at) + 1) + 1,
            (),
            f"malformed YAML: a character YAML does not accept (#x{character:04x}, "
            f"{exc.reason}): remove it"
            + (" (NUL bytes come from a file saved as UTF-16)" if character == 0 else ""),
        )
        raise ScenarioError([problem]) from None
    except yaml.YAMLError as exc:
        problem = Problem(source, None, None, (), f"malformed YAML: {exc}")
        raise ScenarioError([problem]) from None
    except RecursionError:
        problem = Problem(source, None, None, (), "malformed YAML: nested too deeply")
        raise ScenarioError([problem]) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(
            [
                Problem(
                    source, 1, 1, (), f"a scenario is a mapping of keys to values, this is {kind}"
                )
            ]
        )
    try:
        _walk(node, (), source, pos)
    except (_TooLarge, RecursionError):
        problem = Problem(
            source,
            None,
            None,
            (),
            f"the file expands to more than {MAX_VALUES:,} values (through YAML aliases, or "
            "nesting): not a scenario",
        )
        raise ScenarioError([problem]) from None
    if duplicates:
        raise ScenarioError(duplicates)
    return data


def _parse_override(text: str) -> tuple[Path, Any]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError("expected dotted.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
        node = yaml.compose(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ValueError(f"the value is not valid YAML ({exc})") from None
    octal = _octal_in(node)
    if octal is not None:
        raise ValueError(_octal(octal))
    return parse_key(key), value


def canonical_overrides(overrides: Sequence[str]) -> list[str]:
    """What ``overrides`` (``--set key=value`` texts) set, whatever their order and spelling.

    One ``key=value`` per key set, sorted by key, the value as JSON: ``--set a=1
    --set b=2`` and ``--set b=2 --set a=1`` give the same list, as do ``a=15``,
    ``a=15.0`` and ``a=1.5e1`` (one number); a key set twice counts with its last
    value, as it is applied. A setting under a key set whole before it stays within that
    key's value (``a={c: 2}`` then ``a.d=3`` is ``a={"c": 2, "d": 3}``: the whole
    mapping replaced, not ``a.c`` and ``a.d`` set in the file's).

    Raises:
        ValueError: An override that :func:`load_scenario` would refuse.
    """
    made: dict[Path, Any] = {}
    for text in overrides:
        key, value = _parse_override(text)
        holder = next((k for k in made if key[: len(k)] == k and k != key), None)
        if holder is not None:  # within a value set whole before: change it there
            # (a null set first is a new mapping, as set_value makes it in the file's data)
            inner = {} if made[holder] is None else copy.deepcopy(made[holder])
            set_value(inner, key[len(holder) :], value)
            made[holder] = inner
            continue
        for k in [k for k in made if k[: len(key)] == key]:  # set again, or replaced whole
            del made[k]
        made[key] = value
    return [
        f"{dotted(k)}={json.dumps(_one_number(v), sort_keys=True, default=str)}"
        for k, v in sorted(made.items(), key=lambda kv: [str(p) for p in kv[0]])
    ]


def _one_number(value: Any) -> Any:
    """``value`` with every whole float as the integer it equals (``15.0`` is ``15``)."""
    if isinstance(value, dict):
        return {k: _one_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_one_number(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _octal_in(node: yaml.Node | None) -> str | None:
    """The first number in ``node`` (a --set value) that YAML reads in base 8 as another."""
    if _zero_padded(node) if node is not None else False:
        return str(node.value)  # type: ignore[union-attr]
    if isinstance(node, yaml.SequenceNode):
        items = node.value
    elif isinstance(node, yaml.MappingNode):
        items = [n for pair in node.value for n in pair]
    else:
        return None
    return next((found for item in items if (found := _octal_in(item)) is not None), None)


def pydantic_problems(
    exc: ValidationError,
    pos: Positions,
    data: dict[str, Any],
    model: type[BaseModel] = Scenario,
) -> list[Problem]:
    """Every error of validating ``data`` as ``model``, located where its key was written."""
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        path, msg = describe_error(err, data, model)
        problems.append(Problem(*pos.find(path), path, msg))
    return problems


def read_model[M: BaseModel](
    path: str | FsPath, model: type[M], what: str, *, named: bool = False
) -> tuple[M, dict[str, Any], Positions]:
    """Read a YAML file of another kind (an experiment, a calibration) and validate it.

    Args:
        path: The file.
        model: What it must be.
        what: What it is, to head the problems ("experiment", "calibration").
        named: Whether a missing ``name`` is the file's stem.

    Returns:
        The validated file, its raw mapping and where each key was written.

    Raises:
        ScenarioError: With every problem, each with file, line and key.
    """
    fs_path = FsPath(path)
    pos = Positions(str(fs_path))
    try:
        data = read_yaml(fs_path, pos)
    except ScenarioError as exc:  # headed as a scenario's by read_yaml: say what was read
        raise ScenarioError(exc.problems, what=what) from None
    if named:
        data.setdefault("name", fs_path.stem)
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(pydantic_problems(exc, pos, data, model), what=what) from None
    return spec, data, pos


def parse_scenario(
    data: dict[str, Any],
    *,
    source: str = "<scenario>",
    positions: Positions | None = None,
    checks: Sequence[ScenarioCheck] = (),
) -> Scenario:
    """Validate a raw mapping into a :class:`Scenario`, or raise with every problem.

    ``checks`` run last, on a scenario that passed every other check: higher layers
    pass theirs (e.g. that a file territory's communes exist) to get located problems.
    """
    pos = positions or Positions(source)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(pydantic_problems(exc, pos, data)) from None
    findings = semantic_findings(scenario)
    for check in checks:
        if findings:
            break
        findings = check(scenario)
    if not findings:
        findings = policy_changes(scenario, checks)[1]
    if findings:
        raise ScenarioError([Problem(*pos.find(path), path, msg) for path, msg in findings])
    scenario.remember_passed(checks)
    notes = [*advisory_findings(scenario), *timeline_notes(scenario)]
    scenario.remember_notes([Problem(*pos.find(path), path, msg) for path, msg in notes])
    return scenario


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` written over ``base``: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_with_extends(path: FsPath, pos: Positions, chain: tuple[FsPath, ...]) -> dict[str, Any]:
    """Read ``path`` and, if it says ``extends: other.yaml``, merge it over that file.

    The parent is found relative to the file that names it; chains work; a
    cycle is an error naming the chain.
    """
    own = Positions(str(path))
    data = read_yaml(path, own)
    parent_ref = data.pop("extends", None)
    if parent_ref is None:
        pos.update(own)
        return data
    source, line, column = own.find(("extends",))
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise ScenarioError(
            [
                Problem(
                    source,
                    line,
                    column,
                    ("extends",),
                    f"must be the path of another scenario file, found {parent_ref!r}",
                )
            ]
        )
    parent = (path.parent / parent_ref).resolve()
    if parent in chain or parent == path.resolve():
        loop = " -> ".join(str(p) for p in (*chain, path.resolve(), parent))
        raise ScenarioError(
            [Problem(source, line, column, ("extends",), f"extends itself in a cycle: {loop}")]
        )
    if not parent.is_file():
        what = "a folder, not a scenario file" if parent.is_dir() else "no such scenario file"
        raise ScenarioError([Problem(source, line, column, ("extends",), f"{what}: {parent}")])
    try:
        base = _read_with_extends(parent, pos, (*chain, path.resolve()))
    except ScenarioError as exc:
        # Say which line led there: the parent may be any file the user pointed at.
        lead = Problem(
            source, line, column, ("extends",), f"{parent} is not a scenario file that loads"
        )
        raise ScenarioError([lead, *exc.problems]) from None
    base.pop("name", None)  # a scenario is named after itself, not its parent
    pos.update(own)
    return deep_merge(base, data)


def load_raw(path: str | FsPath, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], Positions]:
    """Read a scenario file (with what it extends) and apply ``--set`` overrides.

    Nothing is validated yet; the positions say where every key was written.
    """
    fs_path = FsPath(path)
    pos = Positions(str(fs_path))
    data = _read_with_extends(fs_path, pos, ())
    _apply_overrides(data, pos, overrides)
    return data, pos


def _apply_overrides(data: dict[str, Any], pos: Positions, overrides: Sequence[str]) -> None:
    problems: list[Problem] = []
    for text in overrides:
        source = text.label if isinstance(text, OptionOverride) else f"--set {text}"
        try:
            key, value = _parse_override(text)
            if key[:1] == ("extends",):  # read with the file, before any --set
                raise ValueError(
                    "extends is read from the file, before the --set: write it in the file "
                    "(a scenario of your own that extends the one you run)"
                )
            write_default_entries(data, key)
            set_value(data, key, value)
        except ValueError as exc:
            problems.append(Problem(source, None, None, (), str(exc)))
            continue
        pos.override(key, source)
    if problems:
        raise ScenarioError(problems)


# Blocks of territory.file whose ``path`` names a data file.
DATA_LAYERS = ("communes", "districts", "qpv", "stations", "iris")


def resolve_data_paths(data: dict[str, Any], pos: Positions) -> None:
    """Make the data files of a file territory relative to the scenario file naming each.

    As with ``extends``, a path is read relative to the file where it is written
    (a parent scenario's paths stay relative to the parent); a path given with
    ``--set`` is relative to the working directory.
    """
    territory = data.get("territory")
    files = territory.get("file") if isinstance(territory, dict) else None
    if not isinstance(files, dict):
        return
    for layer in DATA_LAYERS:
        block = files.get(layer)
        if not isinstance(block, dict) or not isinstance(block.get("path"), str):
            continue
        source = pos.find(("territory", "file", layer, "path"))[0]
        target = FsPath(block["path"]).expanduser()
        if not target.is_absolute() and not source.startswith("--set"):
            target = FsPath(source).parent / target
        block["path"] = str(target.resolve())


def load_scenario(
    path: str | FsPath, overrides: Sequence[str] = (), checks: Sequence[ScenarioCheck] = ()
) -> Scenario:
    """Read, override and validate a scenario file.

    Args:
        path: The YAML file.
        overrides: ``dotted.key=value`` strings; each value is read as YAML.
        checks: Further checks run on the valid scenario (see :func:`parse_scenario`).

    Returns:
        The frozen, checked scenario, carrying its compiled timeline and the checks
        it passed.

    Raises:
        ScenarioError: With every problem found, each naming file, line and key.
    """
    found = load_variants(path, [overrides], checks)[0]
    if isinstance(found, ScenarioError):
        raise found
    return found


def load_variants(
    path: str | FsPath,
    variants: Sequence[Sequence[str]],
    checks: Sequence[ScenarioCheck] = (),
) -> list[Scenario | ScenarioError]:
    """Several scenarios from one file, each with its own ``--set`` overrides.

    The file and what it extends are read once (a batch loads every design point
    of an arm this way), then each variant is overridden and checked on its own.

    Returns:
        For each variant, in order, its checked scenario or the error listing its
        problems.

    Raises:
        ScenarioError: If the file itself cannot be read.
    """
    fs_path = FsPath(path)
    base_pos = Positions(str(fs_path))
    base = _read_with_extends(fs_path, base_pos, ())
    found: list[Scenario | ScenarioError] = []
    for overrides in variants:
        data, pos = copy.deepcopy(base), base_pos.copy()
        try:
            _apply_overrides(data, pos, overrides)
            if "name" not in data:
                data["name"] = fs_path.stem
            resolve_data_paths(data, pos)
            found.append(parse_scenario(data, source=str(path), positions=pos, checks=checks))
        except ScenarioError as exc:
            found.append(exc)
    return found


def resolved_dict(scenario: Scenario) -> dict[str, Any]:
    """The fully resolved scenario as plain JSON-compatible data."""
    return scenario.model_dump(mode="json")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (for editors' YAML language servers).

    ``extends`` is read by the loader before validation, so it is added here.
    """
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "secsim scenario"
    schema["properties"] = {
        "extends": {
            "type": "string",
            "description": "Another scenario file (relative to this one) that this one "
            "changes: mappings merge key by key, anything else replaces.",
        },
        **schema["properties"],
    }
    return schema
