"""The benchmark stops with every run it started: its timed runs are child processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_reliability import _session, _wait_for, _workers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _bench() -> subprocess.Popen[str]:
    """A benchmark of the baseline (two years), in a session of its own: stopped long
    before its child run could end by itself (about 8 s)."""
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_run.py"),
            "--scenario",
            "scenarios/baseline.yaml",
            "--days",
            "365",
            "--repeat",
            "2",
            "--no-tracemalloc",
        ],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_benchmark_leaves_no_run_behind(signum: signal.Signals) -> None:
    """SIGTERM stops the benchmark and its child run (exit 143) and removes its temporary
    folders; SIGKILL, which it cannot catch, takes its child run too (the child asked the
    kernel to die with it)."""
    folders = set(Path(tempfile.gettempdir()).glob("secsim-bench-*"))
    proc = _bench()
    try:
        _wait_for(lambda: len(_workers(proc.pid)) == 1, 60, "the benchmark's child run")
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        _wait_for(lambda: not _session(proc.pid), 3, "the child run to end")
    finally:
        if _session(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    if signum == signal.SIGTERM:
        assert proc.returncode == 143, err
        assert "benchmark stopped" in err
        # Its temporary folders (the kernels' cache) are gone with it.
        assert set(Path(tempfile.gettempdir()).glob("secsim-bench-*")) <= folders
    else:
        assert proc.returncode == -signal.SIGKILL
        # Killed outright, it could not remove its folders: the test does.
        for left in set(Path(tempfile.gettempdir()).glob("secsim-bench-*")) - folders:
            shutil.rmtree(left, ignore_errors=True)


def test_the_fingerprints_of_a_run_are_its_own() -> None:
    """``benchmarks/fingerprint.py``: the same run twice gives the same line, another
    seed other hashes, and the code fingerprinted is the checkout it runs from."""

    def lines(*args: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "fingerprint.py"), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout.splitlines()
        assert out[0] == f"# code: {ROOT / 'simulator'}"
        return out[1:]

    same = lines("scenarios/baseline.yaml", "scenarios/baseline.yaml", "--days", "1")
    other = lines("scenarios/baseline.yaml", "--days", "1", "--seed", "2")
    assert len(same) == 2 and same[0] == same[1]
    name, days, seed, rows, *hashes = same[0].split()
    assert (name, days, seed) == ("scenarios/baseline.yaml", "1", "1") and int(rows) > 0
    assert [h.split("=")[0] for h in hashes] == [
        "incidents",
        "timeseries",
        "districts",
        "agencies",
        "summary",
    ]
    assert all(len(h.split("=")[1]) == 16 for h in hashes)
    assert set(hashes).isdisjoint(other[0].split()[4:])


def test_a_mistyped_scenario_is_named_before_anything_runs() -> None:
    """A scenario file that does not exist stops the benchmark at once, with a
    message naming it and the files there are, not a traceback halfway through."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_run.py"), "--scenario", "baseline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "no scenario file baseline" in done.stderr
    assert "baseline.yaml" in done.stderr
    assert done.stdout == ""


def test_make_bench_compares_the_code_on_the_same_file_too() -> None:
    """``--all`` (``make bench``) runs this code on the reference's copy of each file as
    well, beside the full file (which asks this code for work the older one lacks)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_run
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    args = bench_run.parse_args(["--all"])
    assert args.reference == bench_run.REFERENCE_COMMIT == "f5ca564"
    assert args.same_settings and args.repeat == 1
    assert args.scenario == list(bench_run.ALL_SCENARIOS)
    assert not bench_run.parse_args(["--reference", "f5ca564"]).same_settings


def test_the_reference_code_loads_its_copy_of_every_benchmarked_file(tmp_path: Path) -> None:
    """The copies f5ca564's code runs leave out every setting it does not know
    (``NEWER_SETTINGS``): a setting that a benchmarked file gains must be listed there,
    or ``make bench`` fails on the reference's side (as city_500k's QPV weights did)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_run
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    load = (
        "import sys; sys.path.insert(0, sys.argv[1]); import simulator; "
        "from pathlib import Path; "
        "assert Path(simulator.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve()); "
        "simulator.load_scenario(sys.argv[2])"
    )
    known = subprocess.run(
        [
            "git",
            "-C",
            str(ROOT),
            "rev-parse",
            "--verify",
            f"{bench_run.REFERENCE_COMMIT}^{{commit}}",
        ],
        capture_output=True,
        check=False,
    )
    if known.returncode != 0:  # a shallow clone or an sdist: make bench cannot run either
        pytest.skip(f"{bench_run.REFERENCE_COMMIT} is not in this checkout's history")
    with bench_run.reference_tree(bench_run.REFERENCE_COMMIT) as tree:
        for name in bench_run.ALL_SCENARIOS:
            copy, dropped = bench_run.reference_scenario(ROOT / name, tmp_path)
            proc = subprocess.run(
                [sys.executable, "-c", load, str(tree), str(copy)],
                cwd=tree,
                capture_output=True,
                text=True,
                check=False,
            )
            assert proc.returncode == 0, (name, dropped, proc.stderr[-3000:])


def test_a_run_that_fails_stops_the_benchmark_with_a_message(tmp_path: Path) -> None:
    """A scenario whose run fails (here, a key the schema refuses) ends the benchmark
    with exit status 1 and a message saying which run failed and why, not with a
    traceback of the benchmark itself; the older commit's tree and the kernels' cache
    it made are removed on the way out."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {ROOT / 'scenarios' / 'baseline.yaml'}\nrun: {{dayz: 3}}\n", "utf-8")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_run.py"), "--scenario", str(bad),
         "--days", "1", "--no-tracemalloc", "--reference", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("benchmark failed: a timed run")
    assert f"{bad}:2" in done.stderr and "dayz" in done.stderr  # the simulator's own message
    assert "Traceback" not in done.stderr
    assert list(scratch.iterdir()) == []  # nothing of the benchmark's left behind


def test_the_json_figures_never_replace_someone_s_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: a new file, or one the script wrote, written whole under a temporary name;
    a file of someone's, a link or a folder is refused before the benchmark runs."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_run
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    figures = tmp_path / "bench.json"
    assert bench_run.json_refused(figures) is None
    bench_run.write_json(figures, {"machine": {"cpu_count": 2}, "parent_maxrss_kib": 1})
    assert bench_run.json_refused(figures) is None  # its own: replaced
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # no temporary left
    precious = tmp_path / "precious.json"
    precious.write_text('{"my": "data"}')
    link = tmp_path / "link.json"
    link.symlink_to(figures)
    for refused in (precious, link, tmp_path):
        assert bench_run.json_refused(refused), refused
        assert bench_run.main(["--json", str(refused), "--days", "1"]) == 2
        assert "refused" in capsys.readouterr().err
    assert precious.read_text() == '{"my": "data"}' and link.is_symlink()
