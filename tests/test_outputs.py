"""Where secsim may write: never over a person's files, never half-written, clean errors."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.outputs import MARKER, OutputError, claim
from simulator.runner import RunResult, run, write_results
from simulator.scenario import load_scenario

from .conftest import ROOT, SCENARIOS

MMC = SCENARIOS / "validation" / "mmc.yaml"
QUICK = ["--days", "1", "--warmup-days", "0", "--quiet"]


@pytest.fixture(scope="module")
def result() -> RunResult:
    return run(load_scenario(MMC, ["run.days=1", "run.warmup_days=0"]), seed=1)


def _person_folder(path: Path) -> dict[str, bytes]:
    """A folder of someone's work; returns its content to compare with later."""
    (path / "data").mkdir(parents=True)
    (path / "thesis.tex").write_text("\\chapter{Results}\n")
    (path / "data" / "field.csv").write_text("site,count\nA,3\n")
    return _content(path)


def _content(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith("."))


def test_a_new_or_empty_folder_is_written_with_its_marker(
    result: RunResult, tmp_path: Path
) -> None:
    for target in (tmp_path / "new" / "deeper", tmp_path / "empty"):
        if target.name == "empty":
            target.mkdir()
        write_results(result, target)
        marker = json.loads((target / MARKER).read_text())
        assert marker["kind"] == "run" and marker["identity"] == "scenario mmc, seed 1"
        assert (target / "summary.json").exists()
    assert _siblings(tmp_path / "empty") == []  # no temporary folder left beside it


def test_an_earlier_run_is_replaced_but_another_needs_force(
    result: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(MMC), *QUICK, "--out", str(out)]) == 0
    # A file someone put in a run's folder is theirs: the folder is not replaced, even
    # with --force, and nothing is touched.
    (out / "notes.txt").write_text("my notes on this run")
    (out / "analysis").mkdir()
    (out / "analysis" / "plot.py").write_text("import this")
    before = _content(out)
    for extra in ([], ["--force"]):
        assert main(["run", str(MMC), *QUICK, "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert "files secsim did not write (analysis, notes.txt)" in err
        assert _content(out) == before
    (out / "notes.txt").unlink()
    shutil.rmtree(out / "analysis")
    # The same scenario and seed again: re-running it replaces the folder whole.
    assert main(["run", str(MMC), *QUICK, "--out", str(out)]) == 0
    before = _content(out)
    # Another seed: refused, untouched, unless --force.
    assert main(["run", str(MMC), *QUICK, "--seed", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"earlier run of a scenario (scenario mmc ({MMC.resolve()}), seed 1)" in err
    assert "--force" in err
    assert _content(out) == before
    assert main(["run", str(MMC), *QUICK, "--seed", "2", "--out", str(out), "--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 2


def test_a_folder_of_someone_s_files_is_refused_even_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "Documents"
    before = _person_folder(mine)
    for extra in ([], ["--force"]):
        assert main(["run", str(MMC), *QUICK, "--out", str(mine), *extra]) == 2
        err = capsys.readouterr().err
        assert str(mine) in err and "files secsim did not write" in err
        assert "data, thesis.tex" in err and "Traceback" not in err
    assert _content(mine) == before and _siblings(mine) == []


def test_a_figures_folder_with_someone_s_files_is_not_replaced_even_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Figures keep the files beside them (a README): another output may not sweep them away."""
    figures = tmp_path / "figures"
    shutil.copytree(ROOT / "figures", figures)
    (figures / "my_notes.md").write_text("notes\n", encoding="utf-8")
    before = _content(figures)
    for command in (
        ["run", str(MMC), *QUICK, "--out", str(figures), "--force"],
        ["batch", str(ROOT / "experiments" / "policy_arms.yaml"), "--out", str(figures), "--force"],
    ):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "also holds files secsim did not write (README.md, my_notes.md)" in err
    assert _content(figures) == before
    # A figures folder of secsim's files only is secsim's to replace, with --force.
    for name in ("README.md", "my_notes.md"):
        (figures / name).unlink()
    assert main(["run", str(MMC), *QUICK, "--out", str(figures)]) == 2  # another kind
    assert main(["run", str(MMC), *QUICK, "--out", str(figures), "--force"]) == 0
    assert not list(figures.glob("fig*"))


def test_figures_over_another_output_say_so_without_an_option_they_lack(
    result: RunResult, tmp_path: Path
) -> None:
    """`secsim figures` has no --force: its refusal does not offer one."""
    out = write_results(result, tmp_path / "run")
    with pytest.raises(OutputError) as refused:
        claim(out, "figures")
    assert "holds an earlier run of a scenario" in str(refused.value)
    assert "--force" not in str(refused.value)
    with pytest.raises(OutputError, match="add --force to replace it"):
        claim(out, "store")


def test_a_copy_of_a_scenario_does_not_replace_the_original_s_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copied file keeps its original's name: the file, not the name, tells them apart."""
    copy = tmp_path / "mine" / MMC.name  # same name inside, same file name: same folder
    copy.parent.mkdir()
    copy.write_text(MMC.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "results"
    assert main(["run", str(MMC), *QUICK, "--out", str(out)]) == 0
    earlier = _content(out)
    edited = ["--set", "demand.rate_per_hour=2"]
    assert main(["run", str(copy), *QUICK, "--out", str(out), *edited]) == 2
    err = capsys.readouterr().err
    assert "holds an earlier run of a scenario (scenario mmc (" in err and str(MMC) in err
    assert "add --force to replace it" in err
    assert _content(out) == earlier
    # The same file again replaces its earlier run; the copy does with --force.
    assert main(["run", str(MMC), *QUICK, "--out", str(out), "--seed", "1"]) == 0
    assert main(["run", str(copy), *QUICK, "--out", str(out), "--force"]) == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["identity"] == f"scenario mmc ({copy.resolve()}), seed 1"


def test_a_marker_of_an_unknown_kind_leaves_the_folder_alone(tmp_path: Path) -> None:
    """A newer secsim's output, or a forged marker: nothing in it is known to be secsim's."""
    other = tmp_path / "other"
    other.mkdir()
    (other / MARKER).write_text('{"kind": "from-the-future", "format": 1}\n', encoding="utf-8")
    (other / "data.csv").write_text("1\n", encoding="utf-8")
    with pytest.raises(OutputError, match=r"did not write \(data.csv\)"):
        claim(other, "run", force=True)


def test_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["run", str(MMC), *QUICK, "--out", str(target), "--force"]) == 2
    assert "this is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "mine"


@pytest.mark.parametrize("where", ["cwd", "home", "repository", "parent of cwd"])
def test_the_current_home_and_repository_folders_are_refused(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    (work / MARKER).write_text(json.dumps({"kind": "run", "identity": "scenario mmc, seed 1"}))
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "work"))
    target = {
        "cwd": Path("."),
        "home": Path("~").expanduser(),
        "repository": ROOT,
        "parent of cwd": Path(".."),
    }[where]
    # Even a marked folder, and even with --force: these are never replaced.
    assert main(["run", str(MMC), *QUICK, "--out", str(target), "--force"]) == 2
    assert "refused: this folder" in capsys.readouterr().err
    assert (work / MARKER).exists() and (ROOT / "pyproject.toml").exists()


def test_every_writer_follows_the_same_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    before = _person_folder(mine)
    experiment = ROOT / "experiments" / "policy_arms.yaml"
    assert main(["batch", str(experiment), "--out", str(mine), "--quiet", "--force"]) == 2
    assert main(["figures", "--out", str(mine), "--store", str(tmp_path / "s")]) == 2
    assert main(["figures", "--out", str(tmp_path / "f"), "--store", str(mine)]) == 2
    assert main(["analyze", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("files secsim did not write") == 3 and "not a results folder" in err
    assert _content(mine) == before
    assert not (tmp_path / "f").exists() and not (tmp_path / "s").exists()


def test_claim_touches_nothing(tmp_path: Path) -> None:
    assert claim(tmp_path / "absent", "run") is False
    assert not (tmp_path / "absent").exists()
    store = tmp_path / "store"
    store.mkdir()
    (store / MARKER).write_text(json.dumps({"kind": "store"}))
    with pytest.raises(OutputError, match="earlier batch store"):
        claim(store, "run")
    assert claim(store, "run", force=True) is True
    assert sorted(p.name for p in store.iterdir()) == [MARKER]


def test_disk_full_while_writing_names_the_path_and_leaves_nothing(
    result: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full is simulated: the Parquet writer raises ENOSPC as the kernel would."""
    import simulator.runner as runner

    out = tmp_path / "out"
    write_results(result, out)
    earlier = _content(out)

    def full(table: object, path: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(runner, "_write_table", full)
    with pytest.raises(OutputError) as caught:
        write_results(result, out)
    assert caught.value.status == 74
    assert "No space left on device" in str(caught.value) and "incidents.parquet" in str(
        caught.value
    )
    assert _content(out) == earlier  # the earlier run is intact
    assert _siblings(out) == []  # and no temporary folder is left


@contextlib.contextmanager
def _read_only(folder: Path) -> Iterator[str]:
    """Make ``folder`` really read-only; yields how (root ignores permission bits)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield "permission bits (chmod 555)"
        finally:
            folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr and subprocess.run([chattr, "+i", str(folder)], check=False).returncode == 0:
        try:
            yield "immutable attribute (chattr +i)"
        finally:
            subprocess.run([chattr, "-i", str(folder)], check=True)
        return
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], check=False)
    if done.returncode == 0:
        try:
            yield "read-only bind mount"
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    pytest.skip("running as root without chattr or mount: no way to make a folder read-only")


def test_a_read_only_folder_gives_a_clean_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    with _read_only(locked) as how:
        with pytest.raises(OSError):
            (locked / "probe").write_text("x")  # the folder really refuses writes
        assert main(["run", str(MMC), *QUICK, "--out", str(locked / "out")]) == 74, how
        err = capsys.readouterr().err
        assert str(locked) in err and "cannot write" in err and "Traceback" not in err
        assert list(locked.iterdir()) == []


@pytest.mark.parametrize(
    ("kind", "own"),
    [
        (
            "calibration",
            ["calibration.json", "wave_1", "wave_12", "best", "fit.png", "nroy.parquet"],
        ),
        (
            "evidence",
            ["estimates.csv", "hot_spots-full-6d6cbe1e00", "police_numbers-quick-1a2b3c4d5e"],
        ),
    ],
)
def test_a_calibration_or_evidence_folder_with_someone_s_file_is_refused(
    tmp_path: Path, kind: str, own: list[str]
) -> None:
    """Their entries have names made at run time (waves, designs): matched by pattern."""
    folder = tmp_path / kind
    folder.mkdir()
    (folder / MARKER).write_text(json.dumps({"kind": kind}))
    for name in own:
        if "." in name:
            (folder / name).write_text("")
        else:
            (folder / name).mkdir()
    assert claim(folder, kind) is True  # to resume, or to reuse its finished runs
    # Names like secsim's but not its own: replaced with --force, they would be lost.
    for name in ("notes.txt", "wave_notes.txt", "plan-full-draft.md"):
        (folder / name).write_text("mine")
        with pytest.raises(OutputError, match=rf"files secsim did not write \({name}\)"):
            claim(folder, kind, force=True)
        assert (folder / name).read_text() == "mine"
        (folder / name).unlink()


def _store(folder: Path, kind: str = "store") -> Path:
    """An earlier batch store as secsim leaves it (its runs, incidents and analysis)."""
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(json.dumps({"kind": kind}))
    for name in ("experiment.json", "manifest.jsonl", "summaries.parquet"):
        (folder / name).write_text("")
    for sub in ("runs", "incidents"):
        (folder / sub).mkdir()
        (folder / sub / "arm__p0000__r001.parquet").write_text("")
    (folder / "runs" / ".arm__p0000__r002.parquet.4242.tmp").write_text("")  # a cut-off write
    (folder / "analysis").mkdir()
    (folder / "analysis" / MARKER).write_text(json.dumps({"kind": "analysis"}))
    (folder / "analysis" / "arms.csv").write_text("")
    return folder


@pytest.mark.parametrize(
    ("where", "kind"),
    [
        ("store", "store"),
        ("calibration/wave_3", "calibration"),
        ("calibration/best", "calibration"),
        ("evidence/hot_spots-quick-6d6cbe1e00", "evidence"),
    ],
)
def test_someone_s_files_anywhere_in_an_earlier_output_are_never_replaced(
    tmp_path: Path, where: str, kind: str
) -> None:
    """A file of someone's inside a store (or a store inside a calibration or evidence
    folder), a hidden one, a folder of their own in the analysis, a link named like
    secsim's manifest: --force would have removed them all with the store."""
    inner = _store(tmp_path / where)
    top = tmp_path / where.split("/")[0]
    if top != inner:
        (top / MARKER).write_text(json.dumps({"kind": kind}))
    assert claim(top, kind, force=True) is True  # secsim's own, a cut-off write included
    precious = tmp_path / "precious.txt"
    precious.write_text("mine")
    prefix = "" if top == inner else f"{inner.name}/"
    for made, shown in [
        (inner / "runs" / "notes.txt", "runs/notes.txt"),
        (inner / "runs" / "my_merged_results.parquet", "runs/my_merged_results.parquet"),
        (inner / "incidents" / "all.parquet", "incidents/all.parquet"),
        (inner / ".mynotes", ".mynotes"),
        (inner / ".git", ".git"),
        (inner / "analysis" / "mine", "analysis/mine"),
        (inner / "analysis" / ".draft.md", "analysis/.draft.md"),
        (inner / "incidents" / "sub", "incidents/sub"),
    ]:
        if made.suffix or made.name.startswith(".my"):
            made.write_text("mine")
        else:
            made.mkdir()
            (made / "a.txt").write_text("mine")
        with pytest.raises(OutputError, match=rf"did not write \({prefix}{shown}\)"):
            claim(top, kind, force=True)
        assert made.exists()
        shutil.rmtree(made) if made.is_dir() else made.unlink()
    (inner / "manifest.jsonl").unlink()
    (inner / "manifest.jsonl").symlink_to(precious)
    with pytest.raises(OutputError, match=rf"did not write \({prefix}manifest.jsonl\)"):
        claim(top, kind, force=True)
    assert precious.read_text() == "mine"


def test_a_hidden_file_in_a_run_folder_is_someone_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(MMC), *QUICK, "--out", str(out)]) == 0
    (out / ".summary.json.4242.tmp").write_text("{")  # a write cut off: secsim's own
    assert main(["run", str(MMC), *QUICK, "--out", str(out)]) == 0
    assert not (out / ".summary.json.4242.tmp").exists()
    (out / ".mynotes").write_text("mine")
    assert main(["run", str(MMC), *QUICK, "--out", str(out)]) == 2  # the same run again
    assert "files secsim did not write (.mynotes)" in capsys.readouterr().err
    assert (out / ".mynotes").read_text() == "mine"


def test_a_link_to_a_folder_is_written_through(tmp_path: Path) -> None:
    """--out a link to a folder: the folder gets the run, the link stays a link."""
    real = tmp_path / "disk" / "results"
    real.mkdir(parents=True)
    link = tmp_path / "results"
    link.symlink_to(real)
    for _ in range(2):  # new, then the same run replaced
        assert main(["run", str(MMC), *QUICK, "--out", str(link)]) == 0
        assert link.is_symlink() and link.resolve() == real.resolve()
        assert (real / "summary.json").exists()
        assert _siblings(link) == [] and _siblings(real) == []


def test_the_map_alone_follows_the_same_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """figures --map: a folder of someone's is refused; a new one gets the map and the
    marker, drawn aside then moved in; a file there named like the map that is a link
    is replaced as a link (what it points to is untouched); a full disk is a message."""
    baseline = str(SCENARIOS / "baseline.yaml")
    mine = tmp_path / "mine"
    before = _person_folder(mine)
    assert main(["figures", "--map", baseline, "--out", str(mine)]) == 2
    assert "files secsim did not write" in capsys.readouterr().err
    assert _content(mine) == before
    out = tmp_path / "maps"
    assert main(["figures", "--map", baseline, "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [MARKER, "fig1_territory.pdf", "fig1_territory.png", "fig1_territory.txt"]
    assert _siblings(out) == []
    precious = tmp_path / "precious.txt"
    precious.write_text("mine")
    (out / "fig1_territory.txt").unlink()
    (out / "fig1_territory.txt").symlink_to(precious)
    assert main(["figures", "--map", baseline, "--out", str(out)]) == 0
    assert precious.read_text() == "mine" and not (out / "fig1_territory.txt").is_symlink()

    import matplotlib.figure

    def full(*args: object, **kwargs: object) -> None:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "fig1_territory.pdf")
        except OSError:
            raise AttributeError("'Stream' object has no attribute 'pos'") from None

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    earlier = _content(out)
    assert main(["figures", "--map", baseline, "--out", str(out)]) == 74
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert _content(out) == earlier and _siblings(out) == []


def test_quick_figures_and_a_quick_report_never_replace_the_published_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defaults: figures/ and docs/evidence.md for --full (and a map), else results/."""
    import simulator.evidence
    import simulator.figures

    asked: list[Path] = []

    def build(settings: simulator.figures.FigureSettings, *more: object) -> list[Path]:
        asked.append(settings.out)
        return []

    def evidence(settings: simulator.evidence.EvidenceSettings, *more: object) -> object:
        asked.append(settings.doc)
        raise OutputError(settings.doc, "stopped here by the test")

    monkeypatch.setattr(simulator.figures, "build_all", build)
    monkeypatch.setattr(simulator.figures, "build_map", build)
    monkeypatch.setattr(simulator.evidence, "run_evidence", evidence)
    monkeypatch.chdir(tmp_path)
    assert main(["figures"]) == 0
    assert main(["figures", "--full"]) == 0
    assert main(["figures", "--map", str(SCENARIOS / "baseline.yaml")]) == 0
    copy = tmp_path / "toulouse_metropole.yaml"  # an edited copy of a shipped file
    copy.write_text(f"extends: {SCENARIOS / 'baseline.yaml'}\n", encoding="utf-8")
    assert main(["figures", "--map", str(copy)]) == 0
    assert main(["evidence", "--quiet"]) == 2
    assert main(["evidence", "--full", "--quiet"]) == 2
    design = str(ROOT / "experiments" / "evidence" / "hot_spots.yaml")
    assert main(["evidence", design, "--full", "--quiet"]) == 2  # one design: not the report
    assert asked == [
        Path("results/figures-quick"),
        Path("figures"),
        Path("figures"),
        Path("results/figures-quick"),
        Path("results/evidence-quick.md"),
        Path("docs/evidence.md"),
        Path("results/evidence-full.md"),
    ]


def test_a_map_of_a_point_territory_is_refused_and_a_copy_of_the_baseline_named_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """mmc is one place: no map (it crashed in matplotlib). A file named baseline.yaml
    elsewhere is not the shipped baseline: its map is fig1_territory_baseline."""
    assert main(["figures", "--map", str(MMC), "--out", str(tmp_path / "none")]) == 2
    assert "a point territory" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
    copy = tmp_path / "mine" / "baseline.yaml"
    copy.parent.mkdir()
    copy.write_text(f"extends: {SCENARIOS / 'baseline.yaml'}\n", encoding="utf-8")
    out = tmp_path / "maps"
    assert main(["figures", "--map", str(copy), "--out", str(out)]) == 0
    assert (out / "fig1_territory_baseline.png").exists()
    assert not (out / "fig1_territory.png").exists()


def test_a_variant_made_by_set_does_not_replace_the_file_s_own_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(MMC), *QUICK, "--out", str(out)]) == 0
    first = (out / "summary.json").read_text()
    variant = ["--set", "demand.rate_per_hour=3"]
    assert main(["run", str(MMC), *QUICK, *variant, "--out", str(out)]) == 2
    assert "refused: this folder holds an earlier run" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == first
    assert main(["run", str(MMC), *QUICK, "--out", str(out)]) == 0  # the file again: replaced
    assert main(["run", str(MMC), *QUICK, *variant, "--out", str(out), "--force"]) == 0


def test_the_same_variant_set_in_another_order_replaces_its_own_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The variant is what the --set overrides set, not their order or spelling."""
    out = tmp_path / "out"
    one = ["--set", "demand.rate_per_hour=3", "--set", "agencies.state_police.units=4"]
    other = ["--set", "agencies.state_police.units=4.0", "--set", "demand.rate_per_hour=3"]
    assert main(["run", str(MMC), *QUICK, *one, "--out", str(out)]) == 0
    assert main(["run", str(MMC), *QUICK, *other, "--out", str(out)]) == 0
    marker = json.loads((out / MARKER).read_text())
    assert "agencies.state_police.units=4 demand.rate_per_hour=3" in marker["identity"]
    # Another value is another variant: refused without --force.
    assert main(["run", str(MMC), *QUICK, *one[:2], "--out", str(out)]) == 2
    assert "refused: this folder holds an earlier run" in capsys.readouterr().err


def test_a_run_s_folder_has_the_permissions_of_a_folder_the_user_makes(tmp_path: Path) -> None:
    """mkdtemp made it private (0700) whatever the umask: colleagues could not read it."""
    out = tmp_path / "out"
    umask = os.umask(0o022)  # a shared machine's usual: folders readable by all
    try:
        assert main(["run", str(MMC), *QUICK, "--out", str(out), "--quiet"]) == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
