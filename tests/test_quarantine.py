"""Quarantine and restore: what moves, what never moves, and that nothing is ever lost."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import sanitize
from sanitize.quarantine import ALREADY, CHANGED, CONFLICT, MISSING, MOVED, REFUSED, STALE, UNVERIFIED
from sanitize.quarantine.journal import QUARANTINE, Journal
from tests.conftest import jpeg_bytes, png_bytes, run_cli
from tests.quarantine_helpers import (
    files_of,
    make_imagefolder,
    quarantined_files,
    scan_to,
    scanned_imagefolder,
    second_filesystem,
    tree_digest,
)


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    """An ImageFolder with 6 good and 4 bad samples, and its scan report."""
    return scanned_imagefolder(tmp_path, good=6, bad=4)


def _png(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(np.full((4, 4), value, dtype=np.uint8)))


def test_round_trip_leaves_the_tree_identical(folder, tmp_path):
    root, report = folder
    before = tree_digest(root)
    good_before = {p: v for p, v in _files(root).items() if p.startswith("good/")}
    qdir = tmp_path / "q"

    result = sanitize.quarantine(report, qdir)

    assert result.exit_code == 0
    assert sorted(o.path for o in result.with_status(MOVED)) == [f"bad/{i:04d}.jpg" for i in range(4)]
    assert _files(root) == good_before  # only the bad samples left, the good ones untouched
    assert sorted(quarantined_files(qdir)) == [f"bad/{i:04d}.jpg" for i in range(4)]
    manifest = [json.loads(line) for line in (qdir / "manifest.jsonl").read_text().splitlines()]
    assert [m["original"] for m in manifest] == [f"bad/{i:04d}.jpg" for i in range(4)]
    for entry in manifest:
        data = (qdir / entry["quarantined"]).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == _sha256(data)
        assert entry["findings"] and all(f["severity"] == "error" for f in entry["findings"])
        assert entry["root"] == str(root.resolve()) and entry["time"]

    restored = sanitize.restore(qdir)

    assert restored.exit_code == 0 and len(restored.with_status("restored")) == 4
    assert tree_digest(root) == before
    assert quarantined_files(qdir) == {}
    assert (qdir / "manifest.jsonl").read_text() == ""


def test_round_trip_across_filesystems_copies_fsyncs_and_verifies(folder):
    root, report = folder
    shm = second_filesystem(root)
    if shm is None:
        pytest.skip("no second filesystem (/dev/shm) to move across")
    before = tree_digest(root)
    with tempfile.TemporaryDirectory(dir=shm) as other:
        qdir = Path(other) / "q"
        moved = sanitize.quarantine(report, qdir)
        assert moved.exit_code == 0 and len(moved.with_status(MOVED)) == 4
        copy = qdir / "bad" / "0001.jpg"
        assert os.stat(copy).st_dev != os.stat(root).st_dev  # really another filesystem: the copy branch ran
        assert not (root / "bad" / "0001.jpg").exists()
        assert not list(qdir.rglob("*.sanitize-partial"))
        original_mode = os.stat(copy).st_mode

        restored = sanitize.restore(qdir)

        assert restored.exit_code == 0
        assert os.stat(root / "bad" / "0001.jpg").st_mode == original_mode
        assert tree_digest(root) == before  # bytes, modes and paths, also after two copies
        assert quarantined_files(qdir) == {}


def test_scan_records_size_and_mtime_of_flagged_files(folder):
    root, report = folder
    record = json.loads((report / "findings.jsonl").read_text().splitlines()[0])
    stat = os.stat(root / record["path"])
    assert (record["info"]["size"], record["info"]["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)


def test_dry_run_changes_nothing(folder, tmp_path):
    root, report = folder
    before = tree_digest(root)
    result = sanitize.quarantine(report, tmp_path / "q", dry_run=True)
    assert len(result.with_status(MOVED)) == 4
    assert "would move bad/0000.jpg" in result.render()
    assert tree_digest(root) == before
    assert not (tmp_path / "q").exists()


def test_warnings_move_only_when_asked(tmp_path):
    root = tmp_path / "data"
    _png(root / "a" / "fine.png")
    _png(root / "a" / "renamed.jpg", value=1)  # a PNG named .jpg: a warning with allow_mismatch
    (root / "a" / "empty.png").write_bytes(b"")
    scan_to(root, tmp_path / "report", allow_mismatch=True)

    errors_only = sanitize.quarantine(tmp_path / "report", tmp_path / "q")
    assert [o.path for o in errors_only.outcomes] == ["a/empty.png"]
    assert (root / "a" / "renamed.jpg").exists()

    with_warnings = sanitize.quarantine(tmp_path / "report", tmp_path / "q", include_warnings=True)
    assert {o.path: o.status for o in with_warnings.outcomes} == {"a/empty.png": ALREADY, "a/renamed.jpg": MOVED}
    assert sorted(quarantined_files(tmp_path / "q")) == ["a/empty.png", "a/renamed.jpg"]
    assert (root / "a" / "fine.png").exists()


def test_only_restricts_by_check_and_code(tmp_path):
    root = tmp_path / "data"
    _png(root / "a" / "fine.png")
    (root / "a" / "empty.png").write_bytes(b"")  # decode:empty
    (root / "a" / "text.png").write_bytes(b"hello")  # format:not_an_image
    scan_to(root, tmp_path / "report")

    decode = sanitize.quarantine(tmp_path / "report", tmp_path / "q", only=["decode"])
    assert [o.path for o in decode.outcomes] == ["a/empty.png"]
    assert (root / "a" / "text.png").exists()

    with pytest.raises(sanitize.SanitizeError, match="has no code 'not_a_code'"):  # a typo selects nothing: refused
        sanitize.quarantine(tmp_path / "report", tmp_path / "q", only=["format:not_a_code"])
    by_code = sanitize.quarantine(tmp_path / "report", tmp_path / "q", only=["format:not_an_image"])
    assert [o.path for o in by_code.with_status(MOVED)] == ["a/text.png"]
    with pytest.raises(sanitize.SanitizeError, match="CHECK:CODE"):
        sanitize.quarantine(tmp_path / "report", tmp_path / "q", only=["format:"])


def _list_dataset(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "data"
    _png(root / "img" / "ok.png")
    _png(root / "img" / "ok2.png", 9)
    (root / "img" / "bad.jpg").write_bytes(b"junk")
    text = "# training list\nimg/ok.png 0\nimg/bad.jpg 1\n\nimg/missing.png 0\nimg/ok2.png 1\n"
    (root / "train.txt").write_text(text)
    return root, text


def test_list_file_gets_a_cleaned_copy_and_the_original_is_untouched(tmp_path):
    root, text = _list_dataset(tmp_path)
    scan_to(root / "train.txt", tmp_path / "report", num_classes=2)

    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q")

    assert {o.path: o.status for o in result.outcomes} == {"img/bad.jpg": MOVED, "img/missing.png": MISSING}
    assert result.exit_code == 1  # the missing file could not be moved
    assert (root / "train.txt").read_text() == text
    assert result.cleaned_list == root / "train.clean.txt"
    assert (root / "train.clean.txt").read_text() == "# training list\nimg/ok.png 0\n\nimg/ok2.png 1\n"
    assert sorted(quarantined_files(tmp_path / "q")) == ["img/bad.jpg"]


def test_in_place_rewrites_the_list_after_a_backup_never_overwriting_one(tmp_path):
    root, _ = _list_dataset(tmp_path)
    original = (root / "train.txt").read_bytes()
    os.chmod(root / "train.txt", 0o600)
    scan_to(root / "train.txt", tmp_path / "report", num_classes=2)

    first = sanitize.quarantine(tmp_path / "report", tmp_path / "q", in_place=True)

    assert first.backup == root / "train.txt.bak"
    assert (root / "train.txt.bak").read_bytes() == original
    assert (root / "train.txt").read_text() == "# training list\nimg/ok.png 0\n\nimg/ok2.png 1\n"
    assert not (root / "train.clean.txt").exists()
    assert os.stat(root / "train.txt").st_mode & 0o777 == 0o600
    second = sanitize.quarantine(tmp_path / "report", tmp_path / "q", in_place=True)
    assert second.backup == root / "train.txt.bak.1"
    assert (root / "train.txt.bak").read_bytes() == original


def test_csv_gets_a_cleaned_copy(tmp_path):
    root = tmp_path / "data"
    _png(root / "ok.png")
    (root / "bad.png").write_bytes(b"")
    (root / "labels.csv").write_text("label,path\n0,ok.png\n1,bad.png\n")
    scan_to(root / "labels.csv", tmp_path / "report", num_classes=2)
    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q")
    assert result.cleaned_list == root / "labels.clean.csv"
    assert (root / "labels.clean.csv").read_text() == "label,path\n0,ok.png\n"
    assert (root / "labels.csv").read_text() == "label,path\n0,ok.png\n1,bad.png\n"


def test_a_file_changed_since_the_scan_is_not_moved(folder, tmp_path):
    root, report = folder
    grown = root / "bad" / "0000.jpg"
    grown.write_bytes(grown.read_bytes() + b"more")
    touched = root / "bad" / "0001.jpg"
    stat = os.stat(touched)
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # same size, new mtime

    result = sanitize.quarantine(report, tmp_path / "q")

    statuses = {o.path: o.status for o in result.outcomes}
    assert statuses == {"bad/0000.jpg": STALE, "bad/0001.jpg": STALE, "bad/0002.jpg": MOVED, "bad/0003.jpg": MOVED}
    assert result.exit_code == 1 and "re-scan" in result.render()
    assert grown.exists() and touched.exists()


def test_entries_escaping_the_root_are_refused_and_never_touched(tmp_path):
    root = tmp_path / "data"
    _png(root / "ok.png")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"secret, not an image")
    (root / "link.jpg").symlink_to(outside)
    (root / "junk.jpg").write_bytes(b"junk")
    (root / "inner_link.jpg").symlink_to(root / "junk.jpg")
    (root / "train.txt").write_text(
        f"ok.png 0\n../outside.jpg 0\n{outside} 0\nlink.jpg 0\ninner_link.jpg 0\njunk.jpg 1\n"
    )
    scan_to(root / "train.txt", tmp_path / "report", num_classes=2)

    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q")

    statuses = {o.path: o.status for o in result.outcomes}
    assert statuses == {
        "../outside.jpg": REFUSED,
        str(outside): REFUSED,
        "link.jpg": REFUSED,
        "inner_link.jpg": REFUSED,
        "junk.jpg": MOVED,
    }
    assert outside.read_bytes() == b"secret, not an image"
    assert (root / "link.jpg").is_symlink() and (root / "inner_link.jpg").is_symlink()
    assert sorted(quarantined_files(tmp_path / "q")) == ["junk.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "outside.jpg", "q", "report"]


def test_a_tampered_report_cannot_reach_outside(folder, tmp_path):
    _, report = folder
    victim = tmp_path / "victim.jpg"
    victim.write_bytes(b"keep me")
    stat = os.stat(victim)
    record = {
        "path": "../victim.jpg",
        "label": "0",
        "findings": [{"check": "decode", "code": "empty", "severity": "error", "message": "x"}],
        "info": {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
    }
    (report / "findings.jsonl").write_text(json.dumps(record) + "\n")
    result = sanitize.quarantine(report, tmp_path / "q")
    assert [o.status for o in result.outcomes] == [REFUSED]
    assert victim.read_bytes() == b"keep me"


def test_qdir_inside_the_root_is_refused_unless_excluded(tmp_path):
    root = tmp_path / "data"
    make_imagefolder(root, good=2, bad=2)
    scan_to(root, tmp_path / "report")
    before = tree_digest(root)
    with pytest.raises(sanitize.SanitizeError, match="inside the dataset root"):
        sanitize.quarantine(tmp_path / "report", root / "quarantine")
    with pytest.raises(sanitize.SanitizeError, match="contains the dataset root"):
        sanitize.quarantine(tmp_path / "report", tmp_path)
    assert tree_digest(root) == before

    scan_to(root, tmp_path / "report", exclude=(root / "quarantine",))
    result = sanitize.quarantine(tmp_path / "report", root / "quarantine")
    assert result.exit_code == 0 and len(result.with_status(MOVED)) == 2
    rescan = scan_to(root, tmp_path / "report2", exclude=(root / "quarantine",))
    assert rescan.valid and rescan.dataset.class_names == ["bad", "good"]


def test_restore_never_overwrites_and_keeps_the_quarantined_copy(folder, tmp_path):
    root, report = folder
    qdir = tmp_path / "q"
    sanitize.quarantine(report, qdir)
    (root / "bad" / "0002.jpg").write_bytes(b"a new file at the old path")

    result = sanitize.restore(qdir)

    assert {o.path: o.status for o in result.outcomes if o.status != "restored"} == {"bad/0002.jpg": CONFLICT}
    assert result.exit_code == 1
    assert (root / "bad" / "0002.jpg").read_bytes() == b"a new file at the old path"
    assert list(quarantined_files(qdir)) == ["bad/0002.jpg"]
    manifest = [json.loads(line) for line in (qdir / "manifest.jsonl").read_text().splitlines()]
    assert [m["original"] for m in manifest] == ["bad/0002.jpg"]


def test_restore_only_some_and_verify_sha256(folder, tmp_path):
    root, report = folder
    qdir = tmp_path / "q"
    sanitize.quarantine(report, qdir)
    (qdir / "bad" / "0003.jpg").write_bytes(b"bit rot")

    some = sanitize.restore(qdir, only=["bad/0001.jpg", "bad/0003.jpg", "bad/nope.jpg"])

    assert {o.path: o.status for o in some.outcomes} == {
        "bad/0001.jpg": "restored",
        "bad/0003.jpg": CHANGED,
        "bad/nope.jpg": MISSING,
    }
    assert (root / "bad" / "0001.jpg").exists() and not (root / "bad" / "0003.jpg").exists()
    assert sorted(quarantined_files(qdir)) == ["bad/0000.jpg", "bad/0002.jpg", "bad/0003.jpg"]


def test_one_qdir_per_dataset(folder, tmp_path):
    _, report = folder
    sanitize.quarantine(report, tmp_path / "q")
    other = tmp_path / "other"
    make_imagefolder(other, good=1, bad=1)
    scan_to(other, tmp_path / "report_other")
    with pytest.raises(sanitize.SanitizeError, match="another dataset"):
        sanitize.quarantine(tmp_path / "report_other", tmp_path / "q")


# --- the journal: each interrupted state, made deterministically -----------------------------------


def _intend_first_move(report: Path, qdir: Path, root: Path) -> tuple[Journal, int, dict]:
    """Journal the quarantine of bad/0000.jpg without making it, as a run killed right after would."""
    path = root / "bad" / "0000.jpg"
    record = {
        "original": "bad/0000.jpg",
        "quarantined": "bad/0000.jpg",
        "root": str(root.resolve()),
        "size": path.stat().st_size,
        "mtime_ns": path.stat().st_mtime_ns,
        "sha256": _sha256(path.read_bytes()),
        "findings": [],
        "time": "t",
    }
    journal = Journal(qdir.resolve())
    move_id = journal.intend(QUARANTINE, record)
    journal.close()
    return journal, move_id, record


@pytest.mark.parametrize("state", ["not_moved", "partial_copy", "moved", "copied_not_removed"])
def test_an_interrupted_move_is_settled_by_the_next_run(folder, tmp_path, state):
    root, report = folder
    qdir = tmp_path / "q"
    qdir.mkdir()
    before = tree_digest(root)
    _intend_first_move(report, qdir, root)
    src, dst = root / "bad" / "0000.jpg", qdir / "bad" / "0000.jpg"
    dst.parent.mkdir()
    if state == "partial_copy":
        (dst.parent / f".{dst.name}.sanitize-partial").write_bytes(src.read_bytes()[:3])
    elif state == "moved":
        os.replace(src, dst)
    elif state == "copied_not_removed":
        shutil.copy2(src, dst)

    restored = sanitize.restore(qdir)  # rolls back or finishes, then restores what QDIR holds

    assert len(restored.recovered) == 1
    assert tree_digest(root) == before
    assert quarantined_files(qdir) == {}
    again = sanitize.quarantine(report, qdir)
    assert again.recovered == [] and len(again.with_status(MOVED)) == 4


def test_a_journal_line_torn_by_a_kill_is_dropped(folder, tmp_path):
    root, report = folder
    before = tree_digest(root)
    qdir = tmp_path / "q"
    sanitize.quarantine(report, qdir)
    with open(qdir / "journal.jsonl", "a") as journal:
        journal.write('{"id": 99, "op": "quarantine", "rec')
    assert sanitize.quarantine(report, qdir).exit_code == 0  # reading ignores the torn line

    result = sanitize.restore(qdir)  # writing cuts it off first

    assert result.exit_code == 0 and tree_digest(root) == before
    assert all(json.loads(line) for line in (qdir / "journal.jsonl").read_text().splitlines())


# --- locks ---------------------------------------------------------------------------------------

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("locked", ["root", "qdir"])
def test_a_second_run_fails_clearly_while_another_holds_the_lock(folder, tmp_path, locked):
    root, report = folder
    qdir = tmp_path / "q"
    qdir.mkdir()
    before = tree_digest(root)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(root if locked == "root" else qdir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        run = run_cli("quarantine", report, "--to", qdir)
        assert run.returncode == 2, run.stderr
        assert "locked by another sanitize" in run.stderr and "Traceback" not in run.stderr
        assert tree_digest(root) == before and quarantined_files(qdir) == {}
    finally:
        holder.kill()
        holder.wait()
    assert run_cli("quarantine", report, "--to", qdir).returncode == 0


def test_the_lock_is_released_even_when_held_in_this_process(folder, tmp_path):
    root, report = folder
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(sanitize.SanitizeError, match="locked"):
            sanitize.quarantine(report, tmp_path / "q")
    finally:
        os.close(fd)
    assert sanitize.quarantine(report, tmp_path / "q").exit_code == 0


# --- command line --------------------------------------------------------------------------------


def test_cli_quarantine_and_restore(folder, tmp_path):
    root, report = folder
    before = tree_digest(root)
    qdir = tmp_path / "q"

    dry = run_cli("quarantine", report, "--to", qdir, "--dry-run")
    assert dry.returncode == 0 and "would move bad/0000.jpg" in dry.stdout
    assert tree_digest(root) == before and not qdir.exists()

    moved = run_cli("quarantine", report, "--to", qdir)
    assert moved.returncode == 0, moved.stderr
    assert "moved 4 files" in moved.stdout
    assert sorted(quarantined_files(qdir)) == [f"bad/{i:04d}.jpg" for i in range(4)]
    assert not (root / "bad" / "0000.jpg").exists()

    one = run_cli("restore", qdir, "--only", "bad/0000.jpg")
    assert one.returncode == 0 and (root / "bad" / "0000.jpg").exists()
    assert len(quarantined_files(qdir)) == 3

    everything = run_cli("restore", qdir)
    assert everything.returncode == 0 and "restored 3 files" in everything.stdout
    assert tree_digest(root) == before


def test_cli_exit_codes(folder, tmp_path):
    root, report = folder
    missing_report = run_cli("quarantine", tmp_path / "nope", "--to", tmp_path / "q")
    assert missing_report.returncode == 2 and missing_report.stderr.startswith("error:")
    inside = run_cli("quarantine", report, "--to", root / "q")
    assert inside.returncode == 2 and "inside the dataset root" in inside.stderr
    assert not (root / "q").exists()
    not_qdir = run_cli("restore", tmp_path)
    assert not_qdir.returncode == 2 and "not a quarantine folder" in not_qdir.stderr

    (root / "bad" / "0000.jpg").write_bytes(b"changed")
    stale = run_cli("quarantine", report, "--to", tmp_path / "q")
    assert stale.returncode == 1 and "bad/0000.jpg" in stale.stdout
    assert (root / "bad" / "0000.jpg").read_bytes() == b"changed"


def test_cli_scan_with_quarantine(tmp_path):
    root = tmp_path / "data"
    make_imagefolder(root, good=3, bad=2)
    run = run_cli(
        "scan",
        root,
        "--scheduler",
        "synchronous",
        "--no-probe",
        "--out",
        tmp_path / "r",
        "--quarantine",
        tmp_path / "q",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(quarantined_files(tmp_path / "q")) == ["bad/0000.jpg", "bad/0001.jpg"]
    assert sorted(p.name for p in (root / "bad").iterdir()) == []
    rescan = run_cli("scan", root, "--scheduler", "synchronous", "--no-probe", "--out", tmp_path / "r2")
    assert rescan.returncode == 0


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_cli_scan_exclude_allows_a_qdir_inside_the_root(tmp_path):
    root = tmp_path / "data"
    make_imagefolder(root, good=2, bad=1)
    qdir = root / "_quarantine"
    scan = ("scan", root, "--scheduler", "synchronous", "--no-probe", "--out", tmp_path / "r")
    refused = run_cli(*scan, "--quarantine", qdir)
    assert refused.returncode == 2 and "--exclude" in refused.stderr
    assert (root / "bad" / "0000.jpg").exists()

    moved = run_cli(*scan, "--exclude", qdir, "--quarantine", qdir)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert sorted(quarantined_files(qdir)) == ["bad/0000.jpg"]
    assert run_cli(*scan, "--exclude", qdir).returncode == 0  # the re-scan does not see QDIR


def test_restore_dry_run_changes_nothing(folder, tmp_path):
    root, report = folder
    qdir = tmp_path / "q"
    sanitize.quarantine(report, qdir)
    before_root, before_qdir = tree_digest(root), tree_digest(qdir)
    result = sanitize.restore(qdir, dry_run=True)
    assert len(result.with_status("restored")) == 4 and "would restore bad/0000.jpg" in result.render()
    assert (tree_digest(root), tree_digest(qdir)) == (before_root, before_qdir)


def test_a_file_listed_twice_moves_once_for_whichever_line_selects_it(tmp_path):
    root = tmp_path / "data"
    _png(root / "a.jpg")  # a PNG named .jpg: a warning on every line that names it
    _png(root / "ok.png", value=1)
    (root / "train.txt").write_text("a.jpg 0\nok.png 1\na.jpg 7\n")  # label 7 is out of range: an error
    scan_to(root / "train.txt", tmp_path / "report", num_classes=2, allow_mismatch=True)
    records = [json.loads(line) for line in (tmp_path / "report" / "findings.jsonl").read_text().splitlines()]
    assert [(r["path"], r["label"]) for r in records] == [("a.jpg", "0"), ("a.jpg", "7")]

    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q")

    assert [(o.path, o.status) for o in result.outcomes] == [("a.jpg", MOVED)]
    assert (root / "train.clean.txt").read_text() == "ok.png 1\n"


def _segmentation_list(tmp_path: Path) -> Path:
    """`image mask` lines: one clean pair, one mask with an out-of-range class, one undecodable image."""
    root = tmp_path / "data"
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for seed, (name, mask_value) in enumerate((("ok", 1), ("bad_mask", 9), ("bad_image", 2))):
        (root / "images" / f"{name}.jpg").write_bytes(jpeg_bytes(seed) if name != "bad_image" else b"junk")
        (root / "masks" / f"{name}.png").write_bytes(png_bytes(np.full((96, 128), mask_value, dtype=np.uint8)))
    lines = "".join(f"images/{n}.jpg masks/{n}.png\n" for n in ("ok", "bad_mask", "bad_image"))
    (root / "train.txt").write_text(lines)
    return root


def test_an_image_and_its_mask_move_and_come_back_together(tmp_path):
    root = _segmentation_list(tmp_path)
    scan_to(root / "train.txt", tmp_path / "report", num_classes=3)
    before = files_of(root)

    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q")

    assert result.exit_code == 0
    moved = [
        f"{folder}/{name}.{ext}"
        for name in ("bad_image", "bad_mask")
        for folder, ext in (("images", "jpg"), ("masks", "png"))
    ]
    assert sorted(quarantined_files(tmp_path / "q")) == sorted(moved)
    assert (root / "train.clean.txt").read_text() == "images/ok.jpg masks/ok.png\n"
    assert sanitize.restore(tmp_path / "q").exit_code == 0
    assert files_of(root, skip=("train.clean.txt",)) == before  # bytes, modes and paths


def test_a_changed_mask_keeps_its_image_in_place_too(tmp_path):
    root = _segmentation_list(tmp_path)
    scan_to(root / "train.txt", tmp_path / "report", num_classes=3)
    (root / "masks" / "bad_mask.png").write_bytes(png_bytes(np.full((96, 128), 2, dtype=np.uint8)))  # fixed

    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q")

    statuses = {o.path: o.status for o in result.outcomes}
    assert statuses["masks/bad_mask.png"] == STALE and statuses["images/bad_mask.jpg"] == STALE
    assert statuses["images/bad_image.jpg"] == MOVED and statuses["masks/bad_image.png"] == MOVED
    assert (root / "images" / "bad_mask.jpg").exists()
    assert "images/bad_mask.jpg masks/bad_mask.png" in (root / "train.clean.txt").read_text()


def test_a_file_the_scan_recorded_no_stat_for_is_not_moved(tmp_path):
    root, _ = _list_dataset(tmp_path)
    scan_to(root / "train.txt", tmp_path / "report", num_classes=2)
    findings = tmp_path / "report" / "findings.jsonl"
    records = [json.loads(line) for line in findings.read_text().splitlines()]
    for record in records:  # as for a dataset-wide finding (probe:scale_outlier) on an otherwise clean file
        record["info"].pop("size", None)
    findings.write_text("".join(json.dumps(r) + "\n" for r in records))

    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q")

    assert {o.path: o.status for o in result.outcomes} == {"img/bad.jpg": UNVERIFIED, "img/missing.png": MISSING}
    assert (root / "img" / "bad.jpg").exists() and result.exit_code == 1
    assert "img/bad.jpg 1" in (root / "train.clean.txt").read_text()


def test_a_scale_outlier_warning_is_verified_and_moves_with_include_warnings(tmp_path):
    """A sample flagged only by the dataset-wide statistic still carries its size and mtime."""
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    for i in range(12):
        (root / "a" / f"{i}.jpg").write_bytes(jpeg_bytes(seed=i))
    (root / "a" / "deep.png").write_bytes(png_bytes(np.full((16, 16), 8000, dtype=np.uint16)))
    report = scan_to(root, tmp_path / "report", probe=True, probe_scale=(1 / 255,))
    (outlier,) = report.flagged
    assert [f.code for f in outlier.findings] == ["minority", "scale_outlier"]  # 16-bit grey among RGB
    assert outlier.info.size == (root / "a" / "deep.png").stat().st_size
    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q", include_warnings=True)
    assert [o.path for o in result.with_status(MOVED)] == ["a/deep.png"]
    assert not (root / "a" / "deep.png").exists()


@pytest.mark.parametrize("command", ["quarantine", "restore"])
def test_a_manifest_half_written_by_a_killed_run_is_cleared_by_the_next_one(folder, tmp_path, command):
    """A run killed while writing manifest.jsonl leaves its temporary file (.manifest.jsonl.PID.tmp,
    seen in tests/test_quarantine_kill.py): the next run under QDIR's lock removes it, for it is
    never a quarantined file, and a dataset file of that name is refused, not moved over it."""
    _, report = folder
    qdir = tmp_path / "q"
    assert sanitize.quarantine(report, qdir).exit_code == 0
    stale = qdir / ".manifest.jsonl.4242.tmp"
    stale.write_text('{"original": "half')
    result = sanitize.quarantine(report, qdir) if command == "quarantine" else sanitize.restore(qdir)
    assert result.exit_code == 0
    assert not stale.exists()
    held = [f"bad/{i:04d}.jpg" for i in range(4)] if command == "quarantine" else []
    assert sorted(quarantined_files(qdir)) == held


def test_a_dataset_file_named_like_the_manifests_temporary_file_is_refused(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / ".manifest.jsonl.17.tmp").write_bytes(b"<html>not an image</html>")
    (root / "train.txt").write_text(".manifest.jsonl.17.tmp 0\n")
    scan_to(root / "train.txt", tmp_path / "report", num_classes=1)
    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q")
    assert [(o.path, o.status) for o in result.outcomes] == [(".manifest.jsonl.17.tmp", REFUSED)]
    assert (root / ".manifest.jsonl.17.tmp").exists()
