"""Stopping when told, one writer per store, damaged stores, resources: with real processes.

Every batch here is a real ``python -m simulator batch`` with real worker processes,
stopped with real signals; the store is compared with an uninterrupted batch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numba import njit

from simulator import console
from simulator.batch.runner import TIMING_COLUMNS, run_batch
from simulator.batch.spec import load_experiment
from simulator.cli import _capped_workers, available_cores, main
from simulator.outputs import exclusive
from simulator.resources import BYTES_PER_CELL, check_fits, estimate
from simulator.scenario import load_scenario
from simulator.stopping import (
    STOP_SIGNALS,
    Interrupted,
    forget_held,
    install_handlers,
    raise_pending,
)

from .conftest import ROOT, SCENARIOS

SMALL = f"""\
name: small
reference: a
arms:
  a: {{scenario: {SCENARIOS / "baseline.yaml"}}}
  b: {{scenario: {SCENARIOS / "competence_transfer.yaml"}}}
replicates: 3
seed: 11
days: 8
warmup_days: 0
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("experiment") / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(experiment: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same batch, uninterrupted, in this process."""
    store = tmp_path_factory.mktemp("reference") / "store"
    report = run_batch(load_experiment(experiment), experiment, store, workers=1)
    assert report.done == 6
    return store


def _table(store: Path) -> pd.DataFrame:
    frame = pd.read_parquet(store / "summaries.parquet")
    return frame.drop(columns=[c for c in frame.columns if c.split(".")[-1] in TIMING_COLUMNS])


def _manifest(store: Path) -> pd.DataFrame:
    return pd.read_parquet(store / "manifest.parquet")


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every live process: pid -> (parent pid, session id, command line)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] == "Z":  # a zombie has ended; only its exit status is left
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[3]), cmdline)
    return table


def _workers(pid: int) -> list[int]:
    """The worker processes of a batch: its children (forked, or spawned on other systems),
    not multiprocessing's resource tracker, which a spawning batch also starts."""
    return [
        p
        for p, (ppid, _, cmd) in _processes().items()
        if ppid == pid and "resource_tracker" not in cmd
    ]


def _session(sid: int) -> list[int]:
    return [p for p, (_, s, _) in _processes().items() if s == sid]


def _sigint_as_at_a_terminal() -> None:
    # A test runner started in the background by a script ignores SIGINT, and so would
    # the command (as it should): the command here starts as from a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv: list[str]) -> subprocess.Popen[str]:
    # A session of its own: whatever the command starts stays in it, even if orphaned.
    return subprocess.Popen(
        [sys.executable, "-m", "simulator", *argv],
        cwd=ROOT,
        start_new_session=True,
        preexec_fn=_sigint_as_at_a_terminal,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop_when(
    argv: list[str],
    ready: Callable[[subprocess.Popen[str]], bool],
    what: str,
    signum: signal.Signals = signal.SIGTERM,
) -> tuple[int, str, list[int]]:
    """Start ``secsim ARGV``, send ``signum`` once ``ready`` says so, and wait for it.

    Returns:
        Its exit status, its standard error, and the processes of its session left
        running when it exited (killed then, so that a failing test leaves none).
    """
    proc = _start(argv)
    try:
        _wait_for(lambda: ready(proc), 120, what)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        left = _session(proc.pid)
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, err, left


def _terminate_when_working(argv: list[str], what: str) -> tuple[int, str, list[int]]:
    """:func:`_stop_when` with SIGTERM once its two workers run."""
    return _stop_when(argv, lambda proc: len(_workers(proc.pid)) == 2, what)


def _batch(experiment: Path, store: Path, *extra: str) -> list[str]:
    return ["batch", str(experiment), "--quiet", "--out", str(store), *extra]


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders anywhere in or beside ``folder``."""
    inside = [str(p) for p in folder.rglob("*") if ".tmp" in p.name or ".old-" in p.name]
    beside = [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]
    return inside + beside


def _runs(store: Path) -> int:
    return len(list((store / "runs").glob("*.parquet")))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("sent", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_while_checking_a_silent_scheduler_ends_everything(
    tmp_path: Path, sent: signal.Signals, status: int
) -> None:
    """The scheduler check waits in a thread for a peer that never answers: a stop then
    ends the command at once, with nothing written and nothing left running."""
    import socket
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                accepted.append(silent.accept()[0])
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    store = tmp_path / "store"
    address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
    argv = _batch(ROOT / "experiments" / "policy_arms.yaml", store, "--scheduler", address)
    try:
        code, err, left = _stop_when(argv, lambda _: bool(accepted), "the check to connect", sent)
    finally:
        silent.close()
        for conn in accepted:
            conn.close()
    assert code == status, err
    assert "nothing was written" in err and "Traceback" not in err
    assert left == []
    assert not store.exists() and _leftovers(store) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_a_batch_with_its_workers_and_resume_finishes_it(
    experiment: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    batch = _start(_batch(experiment, store, "--workers", "2"))
    try:
        _wait_for(lambda: _runs(store) >= 1 and len(_workers(batch.pid)) == 2, 120, "a run")
        # One writer per store: a second batch is refused and told who holds it.
        assert main(_batch(experiment, store, "--workers", "1", "--resume")) == 2
        assert f"another batch is writing here (process {batch.pid})" in capsys.readouterr().err
        stopped_at = time.monotonic()
        batch.send_signal(signal.SIGTERM)  # to the batch process only, as `kill` does
        _, err = batch.communicate(timeout=60)
        took = time.monotonic() - stopped_at
    finally:
        if _session(batch.pid):
            os.killpg(batch.pid, signal.SIGKILL)
    assert batch.returncode == 143, err
    assert took < 10, f"took {took:.1f} s to stop"
    assert "stopped by SIGTERM" in err and "--resume" in err and "Traceback" not in err
    assert _session(batch.pid) == [], "processes of the batch outlived it"
    status = _manifest(store)["status"]
    assert (status == "interrupted").sum() >= 1
    assert (status == "done").sum() == _runs(store) < 6
    assert set(status) <= {"done", "interrupted", "pending"}
    assert _leftovers(store) == []
    runs_before = _runs(store)
    assert main(_batch(experiment, store, "--workers", "2", "--resume")) == 0
    assert _runs(store) == 6 > runs_before
    pd.testing.assert_frame_equal(_table(store), _table(reference))
    assert set(_manifest(store)["status"]) == {"done"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_batch_killed_outright_takes_its_workers_with_it(
    experiment: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    batch = _start(_batch(experiment, store, "--workers", "2"))
    try:
        _wait_for(lambda: len(_workers(batch.pid)) == 2, 120, "two workers")
        workers = _workers(batch.pid)
        batch.kill()  # SIGKILL: the batch cannot stop them itself
        batch.wait(timeout=30)
        _wait_for(lambda: not set(workers) & set(_processes()), 10, "the workers to die")
    finally:
        if _session(batch.pid):
            os.killpg(batch.pid, signal.SIGKILL)
    # The kernel released the lock with the process: the store is not stuck.
    with exclusive(store):
        pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_killed_is_recorded_with_its_cause_and_the_batch_goes_on(
    experiment: Path, reference: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    batch = _start(_batch(experiment, store, "--workers", "2"))
    try:
        _wait_for(lambda: len(_workers(batch.pid)) == 2, 120, "two workers")
        os.kill(_workers(batch.pid)[0], signal.SIGKILL)  # as the out-of-memory killer does
        _, err = batch.communicate(timeout=300)
    finally:
        if _session(batch.pid):
            os.killpg(batch.pid, signal.SIGKILL)
    assert batch.returncode == 1, err
    manifest = _manifest(store)
    failed = manifest[manifest["status"] == "failed"]
    assert len(failed) == 1 and (manifest["status"] == "done").sum() == 5
    assert "worker process killed by SIGKILL" in failed["error"].iloc[0]
    assert "killed by SIGKILL" in err
    assert main(_batch(experiment, store, "--resume")) == 0
    pd.testing.assert_frame_equal(_table(store), _table(reference))


def _cpu_s(pid: int) -> float:
    """CPU seconds a process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _interrupt_quietly(argv: list[str], cpu_s: float, what: str) -> None:
    """Start ``secsim ARGV``, send SIGINT once it has used ``cpu_s`` of CPU: it must say
    it stopped, with status 130 and no traceback."""
    status, err, _ = _stop_when(
        argv, lambda proc: proc.poll() is not None or _cpu_s(proc.pid) > cpu_s, what, signal.SIGINT
    )
    assert status == 130, err
    assert "stopped by SIGINT" in err and "Traceback" not in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigint_while_the_libraries_load_stops_quietly(tmp_path: Path) -> None:
    """A Ctrl-C in the second or two the libraries take to load, before the command has
    installed its handlers, printed the traceback of the import under way."""
    # Past the interpreter's start (a few hundredths of a second), into the imports.
    command = ["run", str(SCENARIOS / "baseline.yaml"), "--days", "2"]
    _interrupt_quietly([*command, "--out", str(tmp_path / "out")], 0.2, "the imports")
    assert list(tmp_path.iterdir()) == []


def test_a_stop_while_the_command_loads_is_a_stop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The entry point turns a KeyboardInterrupt raised while ``simulator.cli`` loads into
    exit status 130 and one line, as a stop at any later moment."""

    class Interrupting:
        def find_spec(self, name: str, *args: object) -> None:
            if name == "simulator.cli":
                raise KeyboardInterrupt
            return None

    exits: list[int] = []
    monkeypatch.delitem(sys.modules, "simulator.cli")
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    monkeypatch.setattr(console, "_exit", exits.append)  # not this process
    try:
        status = console.main()
    except KeyboardInterrupt:  # not caught: fail this test, not the whole session
        pytest.fail("the KeyboardInterrupt left the entry point")
    assert status == 130
    assert exits == [130]
    assert capsys.readouterr().err == "stopped by SIGINT; nothing half-written is left\n"


def test_a_stop_after_the_command_has_finished_is_no_traceback(tmp_path: Path) -> None:
    """A Ctrl-C in the half second the interpreter takes to tear down after the results
    are written (review of aeff553..9adcdc2). Seen from outside: exit status -2 (the
    process killed by SIGINT) or 0 after a KeyboardInterrupt traceback from an atexit
    callback. Here the signal comes from an atexit callback, so it falls in that time
    every run; the command should end with its own status and nothing on stderr."""
    out = tmp_path / "out"
    code = (
        "import atexit, os, signal, sys\n"
        "from simulator import console\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
        f"sys.argv = ['secsim', 'run', {str(SCENARIOS / 'validation' / 'mmc.yaml')!r},\n"
        f"            '--days', '1', '--warmup-days', '0', '--quiet', '--out', {str(out)!r}]\n"
        "sys.exit(console.main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        preexec_fn=_sigint_as_at_a_terminal,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    assert (out / "summary.json").exists()  # the command had finished
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


def test_sigint_stops_a_run_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Ten years: stopped long before the end, however fast the machine.
    command = ["run", str(SCENARIOS / "baseline.yaml"), "--days", "3650", "--quiet"]
    # Past the imports (about 2 s of CPU) and into the simulation.
    _interrupt_quietly([*command, "--out", str(out)], 5.0, "the simulation")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor a temporary one


def test_a_signal_in_a_compiled_kernels_call_back_is_held_then_raised() -> None:
    """Numba calls back into Python to box each array a kernel returns, and does not check
    that call: ``Interrupted`` raised there came out of the kernel as a ``SystemError``
    (a traceback and exit status 1 instead of 130, seen once in CI)."""

    @njit
    def two_arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(n), np.ones(n)

    two_arrays(1)  # compiled before the signal
    sent: list[str] = []

    def signal_in_call_back(frame: object, event: str, arg: object) -> None:
        name = getattr(getattr(frame, "f_code", None), "co_name", "")
        if event == "call" and name == "_numba_unpickle" and not sent:
            sent.append(name)
            signal.raise_signal(signal.SIGINT)  # its handler runs here, in the call-back

    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)  # not ignored, as at a terminal
    install_handlers()
    try:
        sys.setprofile(signal_in_call_back)
        try:
            zeros, ones = two_arrays(3)
        finally:
            sys.setprofile(None)
        assert sent == ["_numba_unpickle"]
        assert zeros.tolist() == [0.0] * 3 and ones.tolist() == [1.0] * 3
        with pytest.raises(Interrupted) as stopped:
            raise_pending()
        assert stopped.value.exit_status == 130
        raise_pending()  # raised once
    finally:
        forget_held()  # whatever failed: later runs in this process must not stop
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_figures_with_their_workers(tmp_path: Path) -> None:
    out, store = tmp_path / "figures", tmp_path / "store"
    tiny = ["--days", "2", "--replicates", "2", "--sobol-samples", "4", "--workers", "2"]
    status, err, left = _terminate_when_working(
        ["figures", *tiny, "--out", str(out), "--store", str(store)], "the figures' batch workers"
    )
    assert status == 143, err
    assert left == []
    assert not out.exists()
    assert _leftovers(store) == [] and _leftovers(out) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_map_leaves_neither_a_map_nor_its_temporary_folder(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    """figures --map draws in a folder beside --out: stopped while drawing, it removes
    that folder, writes nothing in --out, and leaves no process."""
    out = tmp_path / "maps"
    argv = ["figures", "--map", str(SCENARIOS / "baseline.yaml"), "--out", str(out)]
    code, err, left = _stop_when(
        argv, lambda _: bool(_leftovers(out)), "the map's temporary folder", signum
    )
    assert code == status, err
    assert "Traceback" not in err and left == []
    assert not out.exists() and _leftovers(out) == []


def test_sigterm_stops_evidence_with_its_workers_and_leaves_the_report_alone(
    tmp_path: Path,
) -> None:
    out, doc = tmp_path / "evidence", tmp_path / "evidence.md"
    design = ROOT / "experiments" / "evidence" / "police_numbers.yaml"
    argv = ["evidence", str(design), "--quick", "--workers", "2", "--quiet"]
    status, err, left = _terminate_when_working(
        [*argv, "--out", str(out), "--doc", str(doc)], "the evidence's batch workers"
    )
    assert status == 143, err
    assert "Traceback" not in err
    assert left == []
    assert not doc.exists()  # no report from runs that did not finish
    assert _leftovers(out) == [] and _leftovers(doc) == []


def test_damaged_store_files_are_run_again_on_resume(
    experiment: Path, reference: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(reference, store)
    runs = sorted((store / "runs").glob("*.parquet"))
    runs[0].write_bytes(runs[0].read_bytes()[:100])  # truncated
    runs[3].write_bytes(b"not parquet at all")  # corrupt
    manifest = store / "manifest.jsonl"
    manifest.write_bytes(manifest.read_bytes()[:-20])  # a line cut by a kill
    report = run_batch(load_experiment(experiment), experiment, store, resume=True)
    assert (report.done, report.skipped, report.rerun_damaged) == (2, 4, 2)
    pd.testing.assert_frame_equal(_table(store), _table(reference))
    lines = manifest.read_text().splitlines()
    assert all(json.loads(line)["run_id"] for line in lines[-2:])


def test_a_territory_that_cannot_fit_in_memory_is_refused_before_allocating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The example: 50 million residents on 1 m cells.
    path = tmp_path / "huge.yaml"
    path.write_text(
        f"extends: {SCENARIOS / 'baseline.yaml'}\n"
        "territory:\n  cell_m: 1\n  communes:\n"
        "    - {name: centre, role: central, residents: 50000000, districts: 12}\n"
        "    - {name: nord, role: suburb, residents: 1000, districts: 5}\n"
        "    - {name: est, role: suburb, residents: 1000, districts: 4}\n"
        "    - {name: sud, role: suburb, residents: 1000, districts: 4}\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 2
    assert main(["validate", str(path)]) == 2
    assert time.monotonic() - started < 10  # refused, not attempted
    err = capsys.readouterr().err
    assert "would need about" in err and "196,000,000 cells" in err and "TiB" in err
    assert "memory available" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    # Located where the file sets the cells' size, the first thing to change.
    assert " ".join(err.split()).count("huge.yaml:3:3: territory.cell_m: scenario") == 2


def test_the_memory_limit_can_be_set_and_counts_parallel_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from simulator.resources import ResourceError

    baseline = load_scenario(SCENARIOS / "baseline.yaml")
    need = estimate(baseline)
    assert need.cells == 70 * 70 and need.bytes > need.cells * BYTES_PER_CELL
    monkeypatch.setenv("SECSIM_MEMORY_LIMIT_MB", str(need.bytes * 1.5 / 2**20))
    check_fits(baseline)  # one run fits
    with pytest.raises(ResourceError, match=r"x 2 runs at once.*SECSIM_MEMORY_LIMIT_MB"):
        check_fits(baseline, copies=2)


def test_more_workers_than_cores_are_capped_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rich.console import Console

    cores = available_cores()
    assert _capped_workers(cores, Console(stderr=True)) == cores
    assert capsys.readouterr().err == ""
    assert _capped_workers(cores + 50, Console(stderr=True)) == cores
    assert f"--workers {cores + 50} is more than the {cores} cores" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["inf", "1e400", "-5", "0", "lots"])
def test_a_memory_limit_that_is_not_a_positive_number_is_a_clean_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from simulator.resources import ResourceError

    monkeypatch.setenv("SECSIM_MEMORY_LIMIT_MB", value)
    with pytest.raises(ResourceError, match="not a positive number of MiB"):
        check_fits(load_scenario(SCENARIOS / "baseline.yaml"))
