"""Problems found in a scenario, reported with file, line, column and dotted key."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from simulator.scenario.keys import Path, dotted


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to a misspelt ``word``, if one is close enough.

    Case does not count (``PM_Nord`` is ``pm_nord``).
    """
    folded: dict[str, str] = {}
    for choice in choices:
        folded.setdefault(choice.casefold(), choice)
    key = word.casefold()
    if key in folded:
        return folded[key]
    matches = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return folded[matches[0]] if matches else None


def did_you_mean_hint(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to ``word``, or nothing."""
    near = did_you_mean(word, choices)
    return f" (did you mean '{near}'?)" if near else ""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario.

    Attributes:
        source: The file the value came from, or the ``--set`` argument.
        line: 1-based line in ``source``, when known.
        column: 1-based column in ``source``, when known.
        path: The dotted key of the value.
        message: What was found and what is allowed.
    """

    source: str
    line: int | None
    column: int | None
    path: Path
    message: str

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = dotted(self.path)
        return f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}"


class ScenarioError(Exception):
    """A scenario or experiment could not be read; carries every problem, not just the first.

    Attributes:
        problems: Every problem found.
        what: What was read (``scenario``, ``experiment``), for the message's heading.
    """

    def __init__(self, problems: Sequence[Problem], what: str = "scenario"):
        self.problems = list(problems)
        self.what = what
        super().__init__(self.render())

    def render(self) -> str:
        """All problems, one per line, sorted by where they occur."""
        ordered = sorted(
            self.problems, key=lambda p: (p.source, p.line or 0, p.column or 0, dotted(p.path))
        )
        n = len(ordered)
        head = f"{n} problem{'s' if n != 1 else ''} in {self.what}:"
        return "\n".join([head, *(f"  {p}" for p in ordered)])
