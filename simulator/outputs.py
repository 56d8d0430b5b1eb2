"""Where secsim may write, and how: never over a person's files, never half-written.

Every folder secsim writes (a run's results, a batch store, the figures, an
analysis) carries a small marker file, ``.secsim``, holding what kind of output
it is. The rule, the same for every command:

* a folder that does not exist, or an empty one, is written;
* a folder whose marker says it holds an earlier output of the same kind (and,
  for a run, the same scenario and seed) is replaced;
* a folder holding an earlier secsim output of another kind, or of another
  scenario or seed, is replaced only with ``--force``;
* anything else (a folder with files secsim did not write, at any depth, hidden
  ones and links included; a file; the current folder, the home folder, the
  repository, or a folder that contains one of them) is refused, even with
  ``--force``, and nothing is touched.

A link to a folder is written through: the folder it points to is replaced, the
link stays.

Writes go to a temporary sibling folder that is renamed into place when
complete (with SIGINT and SIGTERM held back during the swap), so a reader sees
the old output or the new one, never a mixture; a failure (disk full, no
permission) removes the temporary folder and names the path.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Any

from simulator.stopping import signals_deferred

MARKER = ".secsim"
MARKER_FORMAT = 1
LOCK = ".secsim.lock"
EXIT_REFUSED = 2
# sysexits.h EX_IOERR: the input was fine, writing it failed (disk full, permissions).
EXIT_WRITE_FAILED = 74

# The version digest that ends the name of an evidence design's store
# (simulator.evidence.store_path: ten hexadecimal digits).
_DIGEST = "[0-9a-f]" * 10

# What each kind of output holds at its top level, besides the marker and the lock, as
# names or shell patterns. A replaced or resumed folder holding anything else, at any
# depth (see OWN_FOLDERS), is refused: that file is someone's. The patterns are as
# narrow as the names secsim makes, since what they match is replaced with --force.
OWN_ENTRIES: dict[str, frozenset[str]] = {
    # `secsim figures` and `--map` (fig<N>_<name>.png, .pdf, .txt, and the index).
    "figures": frozenset({"fig[1-9]_*.png", "fig[1-9]_*.pdf", "fig[1-9]_*.txt", "index.json"}),
    # The figures' batch stores, one per experiment: <name>-<digest of its settings>.
    "figures-store": frozenset({f"*-{_DIGEST}"}),
    "run": frozenset(
        {
            "summary.json",
            "summary.parquet",
            "run.json",
            "incidents.parquet",
            "timeseries.parquet",
            "districts.parquet",
            "agencies.parquet",
        }
    ),
    "store": frozenset(
        {
            "experiment.json",
            "manifest.jsonl",
            "manifest.parquet",
            "summaries.parquet",
            "runs",
            "incidents",
            "analysis",
        }
    ),
    "analysis": frozenset({"arms.csv", "differences.csv", "sensitivity.csv", "report.md"}),
    "evidence": frozenset({"estimates.csv", f"*-quick-{_DIGEST}", f"*-full-{_DIGEST}"}),
    "calibration": frozenset(
        {
            "calibration.json",
            "wave_[1-9]",  # waves number 1 to 50 (calibration.spec.MethodBlock.waves)
            "wave_[1-9][0-9]",
            "best",
            "waves.parquet",
            "nroy.parquet",
            "fit.csv",
            "fit.md",
            "fit.png",
            "overlay.yaml",
        }
    ),
}

# What the folders among those entries hold: the kind of output each is (its own entries,
# checked in turn), or, for a folder without a marker of its own, the names of the files
# it holds (none of them folders). A folder an output holds that is not here is someone's.
# A batch's run files are named by their run id: <arm>__p<point>__r<replicate>
# (simulator.batch.runner.plan); any other Parquet file there is someone's.
_RUN_FILE = "*__p[0-9][0-9][0-9][0-9]*__r[0-9][0-9][0-9]*.parquet"
OWN_FOLDERS: dict[str, dict[str, str | frozenset[str]]] = {
    "store": {
        "runs": frozenset({_RUN_FILE}),
        "incidents": frozenset({_RUN_FILE}),
        "analysis": "analysis",
    },
    "evidence": {f"*-quick-{_DIGEST}": "store", f"*-full-{_DIGEST}": "store"},
    "figures-store": {f"*-{_DIGEST}": "store"},
    "calibration": {"wave_[1-9]": "store", "wave_[1-9][0-9]": "store", "best": "store"},
}

# Outputs whose writer replaces only its own entries and keeps the rest (a README
# beside the figures): what else they hold is looked at only when another kind of
# output, with --force, would replace the whole folder.
SELECTIVE_KINDS = frozenset({"figures", "figures-store"})

KIND_NAMES = {
    "run": "run of a scenario",
    "store": "batch store",
    "figures": "figures folder",
    "figures-store": "figures' batch stores",
    "analysis": "analysis",
    "evidence": "evidence folder (secsim evidence)",
    "calibration": "calibration folder (secsim calibrate)",
}


class OutputError(Exception):
    """secsim refused to write somewhere, or a write failed; nothing was left half-written.

    Attributes:
        path: The folder or file concerned.
        status: The exit status the command line uses (2 refused, 74 write failed).
    """

    def __init__(self, path: Path, message: str, status: int = EXIT_REFUSED):
        self.path = path
        self.status = status
        super().__init__(f"{path}: {message}")


class StoreInUse(OutputError, FileExistsError):
    """A store already holds a batch that may not be continued or replaced as asked.

    Also a ``FileExistsError``, as it was before stores had markers.
    """


def write_failed(exc: OSError, path: Path) -> OutputError:
    """A clean error for an ``OSError`` raised while writing under ``path``."""
    where = Path(exc.filename) if exc.filename else path
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason += " (free some space, or choose another --out)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason += " (choose a folder you may write in with --out)"
    return OutputError(where, f"cannot write: {reason}", EXIT_WRITE_FAILED)


def _protected() -> dict[Path, str]:
    places = {
        Path.cwd(): "the current folder",
        Path.home(): "your home folder",
        Path(Path.cwd().anchor): "the root of the file system",
    }
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").exists():
        places[repo] = "the secsim repository"
    return {p.resolve(): what for p, what in places.items()}


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder``, or None if it has none (or an unreadable one)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("kind"), str) else None


def marker_text(kind: str, identity: str | None = None) -> str:
    """The marker's content: the kind of output and what identifies it."""
    return json.dumps({"kind": kind, "format": MARKER_FORMAT, "identity": identity}) + "\n"


def claim(path: Path, kind: str, *, identity: str | None = None, force: bool = False) -> bool:
    """Check that secsim may write a ``kind`` output at ``path``; touch nothing.

    Args:
        path: The folder to write.
        kind: What will be written there (``run``, ``store``, ``figures``...).
        identity: What distinguishes two outputs of that kind (a run's scenario and
            seed); an earlier output with another identity needs ``force``.
        force: Replace an earlier secsim output of another kind or identity.

    Returns:
        Whether ``path`` holds an earlier output (that will be replaced).

    Raises:
        OutputError: If secsim may not write there (status 2).
    """
    resolved = path.resolve()
    for place, what in _protected().items():
        if resolved == place or resolved in place.parents:
            where = "is" if resolved == place else "contains"
            raise OutputError(
                path, f"refused: this folder {where} {what}; choose a new folder with --out"
            )
    if not path.exists() and not path.is_symlink():
        return False
    if not path.is_dir():
        raise OutputError(path, "refused: this is a file, not a folder; choose a new folder")
    try:
        # A lock file alone is what a batch killed at its very start leaves behind.
        entries = sorted(p.name for p in path.iterdir() if p.name != LOCK)
    except OSError as exc:
        raise write_failed(exc, path) from None
    if not entries:
        return False
    marker = read_marker(path)
    if marker is None:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise OutputError(
            path,
            f"refused: this folder holds files secsim did not write ({shown}); secsim only "
            "replaces folders it made itself (never yours, even with --force): choose a new "
            "or empty folder",
        )
    try:
        selective = marker["kind"] == kind and kind in SELECTIVE_KINDS
        foreign = [] if selective else not_written_by_secsim(path, marker["kind"])
    except OSError as exc:
        raise write_failed(exc, path) from None
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(
            path,
            f"refused: this earlier secsim output also holds files secsim did not write "
            f"({shown}); move them away first, or choose another folder (never replaced, "
            "even with --force)",
        )
    holder = lock_holder(path)
    if holder is not None:
        raise OutputError(
            path,
            f"refused: another batch is writing here ({holder}); wait for it to finish, or stop "
            "it, or choose another folder",
        )
    same = marker["kind"] == kind and (identity is None or marker.get("identity") == identity)
    if not same and not force:
        earlier = KIND_NAMES.get(marker["kind"], marker["kind"])
        if marker.get("identity"):
            earlier += f" ({marker['identity']})"
        raise OutputError(
            path,
            # (Figures replace only their own files: they never replace another output.)
            f"refused: this folder holds an earlier {earlier}; choose another folder"
            if kind in SELECTIVE_KINDS
            else f"refused: this folder holds an earlier {earlier}; add --force to replace it, "
            "or choose another folder (--out)",
        )
    return True


def _own_temporary(name: str, own: frozenset[str]) -> bool:
    """Whether ``name`` is a file secsim writes before renaming it into place.

    ``.<entry>.<process id>.tmp`` (or ``.tmp.png``), where ``<entry>`` is one of
    ``own`` or the marker: what a write cut off by a stop or a kill leaves behind.
    """
    for suffix in (".tmp", ".tmp.png"):
        if name.startswith(".") and name.endswith(suffix):
            entry, _, pid = name[1 : -len(suffix)].rpartition(".")
            return pid.isdigit() and (entry == MARKER or any(fnmatchcase(entry, p) for p in own))
    return False


def not_written_by_secsim(folder: Path, kind: str) -> list[str]:
    """What ``folder``, an output of ``kind``, holds that secsim did not write, at any depth.

    Paths relative to ``folder``, sorted. secsim writes the marker, the lock, the
    entries of :data:`OWN_ENTRIES` and the temporary files of their writes; the
    folders among them hold what :data:`OWN_FOLDERS` says. Links are never secsim's.
    A kind without a list of entries, unknown to this version, is all someone's.

    Raises:
        OSError: A folder could not be read.
    """
    own = OWN_ENTRIES.get(kind)
    if own is None:  # a kind this version does not know: nothing in it is known to be secsim's
        return sorted(p.name for p in folder.iterdir() if p.name not in (MARKER, LOCK))
    folders = OWN_FOLDERS.get(kind, {})
    foreign: list[str] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        name = entry.name
        if entry.is_symlink():
            foreign.append(name)
        elif name in (MARKER, LOCK) or _own_temporary(name, own):
            continue
        elif not any(fnmatchcase(name, p) for p in own):
            foreign.append(name)
        elif entry.is_dir():
            inside = next((v for p, v in folders.items() if fnmatchcase(name, p)), None)
            if inside is None:
                foreign.append(name)
            elif isinstance(inside, str):
                found = read_marker(entry)
                inner = found["kind"] if found is not None else inside
                foreign += [f"{name}/{n}" for n in not_written_by_secsim(entry, inner)]
            else:
                foreign += [f"{name}/{n}" for n in _not_files_of(entry, inside)]
    return foreign


def _not_files_of(folder: Path, names: frozenset[str]) -> list[str]:
    """What ``folder`` holds besides files named as ``names`` and their temporary writes."""
    return [
        p.name
        for p in sorted(folder.iterdir(), key=lambda p: p.name)
        if p.is_symlink()
        or p.is_dir()
        or not (any(fnmatchcase(p.name, q) for q in names) or _own_temporary(p.name, names))
    ]


def _tmp_sibling(path: Path) -> Path:
    """A new hidden folder beside ``path``, with the permissions a folder made there gets.

    Not ``tempfile.mkdtemp``, whose folder is private (0700) whatever the umask: the
    results would be the only folder colleagues sharing the machine could not read.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
            try:
                tmp.mkdir()  # 0777 less the umask, as any folder the user makes
            except FileExistsError:
                continue
            return tmp
        raise FileExistsError(f"no free temporary name beside {path}")
    except OSError as exc:
        raise write_failed(exc, path) from None


def _swap_in(tmp: Path, target: Path) -> None:
    """Put the finished folder ``tmp`` at ``target``, replacing what is there."""
    with signals_deferred():
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)


@contextmanager
def staged_folder(
    target: Path, kind: str, *, identity: str | None = None, force: bool = False
) -> Iterator[Path]:
    """A temporary folder to fill; on success it replaces ``target`` in one rename.

    The rule of :func:`claim` is checked before and again at the swap. On any
    error or signal the temporary folder is removed and ``target`` is untouched.

    Raises:
        OutputError: Refused (status 2), or a write failed (status 74).
    """
    claim(target, kind, identity=identity, force=force)
    if target.is_symlink():  # a link to a folder: the folder is replaced, the link kept
        target = target.resolve()
    tmp = _tmp_sibling(target)
    try:
        try:
            (tmp / MARKER).write_text(marker_text(kind, identity), encoding="utf-8")
            yield tmp
            claim(target, kind, identity=identity, force=force)  # nobody wrote there meanwhile
            _swap_in(tmp, target)
        except OSError as exc:
            raise write_failed(exc, target) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def scratch_folder(target: Path) -> Iterator[Path]:
    """A temporary sibling of ``target``, removed on the way out whatever happens."""
    tmp = _tmp_sibling(target)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def mark(folder: Path, kind: str, identity: str | None = None) -> None:
    """Write ``folder``'s marker (atomically)."""
    write_text_atomically(folder / MARKER, marker_text(kind, identity))


def write_text_atomically(path: Path, text: str) -> None:
    """Write a text file under a temporary name, then rename it (never half-written)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise write_failed(exc, path) from None
    finally:
        tmp.unlink(missing_ok=True)


def lock_holder(folder: Path) -> str | None:
    """Who holds ``folder``'s lock (``process N``), or None if nobody does."""
    try:
        handle = (folder / LOCK).open("r", encoding="utf-8")
    except OSError:
        return None  # no lock file: nobody ever locked it
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "another process"
        except OSError:
            return None
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


@contextmanager
def exclusive(folder: Path, what: str = "batch") -> Iterator[None]:
    """Hold ``folder``'s lock: one writer at a time.

    The lock is ``flock`` on ``.secsim.lock``, which the kernel releases when the
    process ends, however it ends: a crashed batch never leaves a store locked.

    Raises:
        OutputError: If another process holds it (named by its process id).
    """
    path = folder / LOCK
    handle: IO[str]
    try:
        handle = path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise write_failed(exc, path) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OutputError(
                folder,
                f"refused: another {what} is writing here ({holder}); wait for it to finish, "
                "or stop it, or choose another folder",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock
