"""I/O failures under quarantine, restore and audit, made for real: unreadable journals and folders,
files that cannot be hashed while a move is settled, a full or read-only disk under the journal, the
manifest, the cleaned list and the audit store. Each is one line naming the file and the cause,
exit code 2, and no data lost: every move made is journalled, so a later run or `restore` can
finish or undo it, and the audit store stays usable.

A permission cannot stop root, so those tests run their subprocess through `setpriv` without the
capabilities that bypass file permissions when the suite runs as root (skipped where that fails)."""

from __future__ import annotations

import importlib
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import sanitize
from sanitize.errors import SanitizeError
from sanitize.quarantine import ALREADY, MOVED, REFUSED
from sanitize.quarantine.journal import QUARANTINE, Journal
from sanitize.storage import sha256_of
from tests.conftest import cli_env, image_folder, run_cli
from tests.quarantine_helpers import files_of, quarantined_files, scan_to, scanned_imagefolder, tree_digest

NOT_AN_IMAGE = b"<!doctype html><html><body>rate limited</body></html>"


def _prefix(probe: Path) -> list[str] | None:
    """The command prefix under which chmod binds this process's children, or None if none does."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    probe.write_text("secret")
    probe.chmod(0o000)
    refused = subprocess.run([*prefix, "cat", str(probe)], capture_output=True, check=False).returncode != 0
    allowed = subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0
    return prefix if refused and allowed else None


@pytest.fixture(scope="module")
def unprivileged(tmp_path_factory):
    """Run `python ARGS` where file permissions apply; the test is skipped where they cannot be made to."""
    prefix = _prefix(tmp_path_factory.mktemp("probe") / "unreadable")
    if prefix is None:
        pytest.skip("running as root, and setpriv cannot drop the capabilities that bypass chmod")

    def run(*args: str | Path) -> subprocess.CompletedProcess:
        command = [*prefix, sys.executable, *map(str, args)]
        return subprocess.run(command, env=cli_env(), capture_output=True, text=True, timeout=120, check=False)

    return run


def one_line_error(completed: subprocess.CompletedProcess, *words: str) -> None:
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert completed.stderr.startswith("error:") and len(completed.stderr.splitlines()) == 1, completed.stderr
    assert "unexpected" not in completed.stderr and all(w in completed.stderr for w in words), completed.stderr


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    """An ImageFolder with 3 good and 4 bad samples, and its scan report."""
    return scanned_imagefolder(tmp_path, good=3, bad=4)


def temporary_files(*tops: Path) -> list[Path]:
    return [p for top in tops for p in top.rglob("*") if p.name.endswith((".tmp", ".sanitize-partial"))]


# --- the journal and QDIR cannot be read or written ---------------------------------------------


def test_an_unreadable_journal_or_qdir_is_a_one_line_error_and_nothing_moves(folder, tmp_path, unprivileged):
    root, report = folder
    qdir = tmp_path / "q"
    assert sanitize.quarantine(report, qdir).exit_code == 0
    sanitize.restore(qdir, only=["bad/0000.jpg"])
    before, held = tree_digest(root), quarantined_files(qdir)
    journal = qdir / "journal.jsonl"
    runs = (("quarantine", report, "--to", qdir), ("restore", qdir))

    journal.chmod(0o000)
    for args in runs:
        one_line_error(unprivileged("-m", "sanitize", *args), "cannot read the quarantine journal", str(journal))
    journal.chmod(0o444)  # readable, not writable: refused at the first move, before it is made
    for args in runs:
        one_line_error(unprivileged("-m", "sanitize", *args), "cannot write the quarantine journal", str(journal))
    journal.chmod(0o644)
    qdir.chmod(0o000)  # the library call: the CLI's own argument check refuses an unreadable folder first
    for call in (f"quarantine({str(report)!r}, {str(qdir)!r})", f"restore({str(qdir)!r})"):
        code = f"import sanitize, sys\ntry: sanitize.{call}\nexcept sanitize.SanitizeError as e: sys.exit(str(e))"
        completed = unprivileged("-c", code)
        assert completed.returncode == 1 and str(qdir) in completed.stderr, completed.stderr
        assert "Permission denied" in completed.stderr and "Traceback" not in completed.stderr
    qdir.chmod(0o755)

    assert tree_digest(root) == before and quarantined_files(qdir) == held
    assert sanitize.restore(qdir).exit_code == 0 and quarantined_files(qdir) == {}


def test_a_journal_that_cannot_be_read_is_a_sanitize_error_even_for_root(folder, tmp_path):
    _, report = folder
    (tmp_path / "q" / "journal.jsonl").mkdir(parents=True)  # read() fails, whoever reads it
    with pytest.raises(SanitizeError, match=r"cannot read the quarantine journal .*journal\.jsonl: Is a directory"):
        sanitize.quarantine(report, tmp_path / "q")


def _full_disk() -> None:
    """In the child: files may not grow past 1,500 bytes (EFBIG, as a full disk gives ENOSPC)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))


def test_a_journal_that_fills_the_disk_mid_run_stops_it_and_the_next_run_finishes(folder, tmp_path):
    root, report = folder
    qdir = tmp_path / "q"
    before = tree_digest(root)
    command = [sys.executable, "-m", "sanitize", "quarantine", report, "--to", qdir]
    completed = subprocess.run(
        command, env=cli_env(), capture_output=True, text=True, timeout=120, preexec_fn=_full_disk, check=False
    )

    one_line_error(completed, "cannot write the quarantine journal", "File too large", "files had moved")
    stopped = Journal(qdir)  # its lines still parse; the move whose outcome was cut off is in flight
    assert 1 <= len(stopped.present) + len(stopped.pending) < 4
    again = sanitize.quarantine(report, qdir)
    assert again.exit_code == 0 and len(again.with_status(MOVED, ALREADY)) == 4
    assert len(quarantined_files(qdir)) == 4
    assert sanitize.restore(qdir).exit_code == 0
    assert tree_digest(root) == before and quarantined_files(qdir) == {}


# --- settling a move whose files cannot be read; a source that cannot be removed --------------------


def test_a_move_that_cannot_be_settled_stays_in_the_journal_until_it_can(folder, tmp_path, unprivileged):
    root, report = folder
    qdir = tmp_path / "q"
    before = tree_digest(root)
    src, dst = root / "bad" / "0000.jpg", qdir / "bad" / "0000.jpg"
    record = {"original": "bad/0000.jpg", "quarantined": "bad/0000.jpg", "root": str(root.resolve())}
    record |= {"size": src.stat().st_size, "mtime_ns": src.stat().st_mtime_ns, "sha256": sha256_of(src)}
    journal = Journal(qdir.resolve())
    journal.intend(QUARANTINE, record)  # then killed after the rename, before its outcome was written
    journal.close()
    dst.parent.mkdir()
    os.replace(src, dst)
    dst.chmod(0o000)  # the settle cannot hash it

    for args in (("quarantine", report, "--to", qdir), ("restore", qdir)):
        one_line_error(unprivileged("-m", "sanitize", *args), "cannot settle", "bad/0000.jpg", "Permission denied")
        assert len(Journal(qdir).pending) == 1  # still in flight: nothing was guessed
    assert quarantined_files(qdir).keys() == {"bad/0000.jpg"}  # and nothing else moved

    dst.chmod(0o644)  # the cause fixed: restore finishes the move, then undoes it
    restored = sanitize.restore(qdir)
    assert [o.reason for o in restored.recovered] == ["interrupted quarantine finished"]
    assert restored.exit_code == 0 and tree_digest(root) == before and quarantined_files(qdir) == {}


def test_a_source_folder_that_is_read_only_keeps_its_files_and_the_run_goes_on(folder, tmp_path, unprivileged):
    root, report = folder
    qdir = tmp_path / "q"
    before = tree_digest(root)
    (root / "bad").chmod(0o555)  # the link into QDIR works; removing the source does not
    completed = unprivileged("-m", "sanitize", "quarantine", report, "--to", qdir)
    (root / "bad").chmod(0o755)

    assert completed.returncode == 1, completed.stderr
    assert completed.stdout.count(f"{REFUSED}: cannot move") == 4 and "Permission denied" in completed.stdout
    assert tree_digest(root) == before and quarantined_files(qdir) == {}  # each link undone
    assert Journal(qdir).pending == {} and Journal(qdir).present == {}
    assert sanitize.quarantine(report, qdir).exit_code == 0 and len(quarantined_files(qdir)) == 4


# --- the manifest and the cleaned list cannot be written after files moved -------------------------


def _list_dataset(tmp_path: Path) -> Path:
    root = image_folder(tmp_path / "data", per_class=2, size=(16, 16))
    for i in range(3):
        (root / "cat" / f"bad{i}.jpg").write_bytes(NOT_AN_IMAGE)
    lines = [f"{p.relative_to(root).as_posix()} {int(p.parent.name == 'dog')}\n" for p in sorted(root.rglob("*.jpg"))]
    (root / "train.txt").write_text("".join(lines))
    scan_to(root / "train.txt", tmp_path / "report", num_classes=2)
    return root


@pytest.mark.parametrize(
    ("blocked", "cause"),
    [("data/train.clean.txt", "cannot write the cleaned list"), ("q/manifest.jsonl", "cannot write the manifest")],
)
def test_outputs_that_cannot_be_written_after_files_moved_lose_nothing(tmp_path, blocked, cause):
    root = _list_dataset(tmp_path)
    before = files_of(root)
    qdir = tmp_path / "q"
    (tmp_path / blocked).mkdir(parents=True)  # a folder in the way: the rename onto it fails, even for root

    with pytest.raises(SanitizeError) as raised:
        sanitize.quarantine(tmp_path / "report", qdir)

    message = str(raised.value)
    assert cause in message and "3 files had moved" in message, message
    assert "the cleaned list was not written" in message and "\n" not in message
    assert not (root / "train.clean.txt").is_file() and temporary_files(root, qdir) == []
    assert len(Journal(qdir).present) == 3 and Journal(qdir).pending == {}  # every move is on record
    (tmp_path / blocked).rmdir()
    again = sanitize.quarantine(tmp_path / "report", qdir)  # the cause fixed: the list is written
    assert len(again.with_status(ALREADY)) == 3 and "bad" not in (root / "train.clean.txt").read_text()
    assert sanitize.restore(qdir).exit_code == 0
    assert files_of(root, skip=("train.clean.txt",)) == before


def test_a_list_that_cannot_be_rewritten_in_place_is_left_as_it_was(tmp_path, unprivileged):
    root = _list_dataset(tmp_path)
    text = (root / "train.txt").read_text()
    root.chmod(0o555)  # no backup, no temporary file can be made beside the list
    completed = unprivileged("-m", "sanitize", "quarantine", tmp_path / "report", "--to", tmp_path / "q", "--in-place")
    root.chmod(0o755)

    one_line_error(completed, "cannot keep the backup", "train.txt.bak", "files had moved", "not written")
    assert (root / "train.txt").read_text() == text
    assert sorted(p.name for p in root.iterdir()) == ["cat", "dog", "train.txt"]  # no backup, no temporary file
    assert sanitize.restore(tmp_path / "q").exit_code == 0 and len(list(root.rglob("bad*.jpg"))) == 3


# --- the audit store is full or read-only ---------------------------------------------------------


def test_an_audit_store_that_fills_up_mid_audit_stops_it_and_the_next_audit_goes_on(tmp_path, monkeypatch):
    folder = image_folder(tmp_path / "data", per_class=150, size=(8, 8))
    sanitize.audit(folder, tmp_path / "measure.sqlite", scheduler="synchronous", probe=False)
    with sqlite3.connect(tmp_path / "measure.sqlite") as conn:
        full = conn.execute("PRAGMA page_count").fetchone()[0]  # what a whole audit of it takes
    db = tmp_path / "audit.sqlite"
    audit_module = importlib.import_module("sanitize.audit")
    connect = audit_module.connect

    def half_full(path: Path, **kwargs) -> sqlite3.Connection:
        """The store's connection, with room for about half of what the audit writes (a full disk)."""
        conn = connect(path, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {(pages + full) // 2}")
        return conn

    monkeypatch.setattr(audit_module, "connect", half_full)
    with pytest.raises(SanitizeError, match=f"cannot update the audit store {db}: database or disk is full"):
        sanitize.audit(folder, db, scheduler="synchronous", probe=False)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    assert 0 < stored < 300  # the batches committed before the disk filled up are kept

    monkeypatch.setattr(audit_module, "connect", connect)  # the disk has room again
    result = sanitize.audit(folder, db, scheduler="synchronous", probe=False)
    assert (result.reused, result.checked, len(result.diff.added)) == (stored, 300 - stored, 300)
    assert [run.status for run in sanitize.history(db)] == ["interrupted", "complete"]


def test_a_read_only_audit_store_is_a_one_line_error(tmp_path, unprivileged):
    folder = image_folder(tmp_path / "data", per_class=2, size=(8, 8))
    db = tmp_path / "audit.sqlite"
    assert run_cli("audit", folder, "--db", db, "--no-probe", "--scheduler", "synchronous").returncode == 0
    db.chmod(0o444)
    completed = unprivileged("-m", "sanitize", "audit", folder, "--db", db, "--no-probe", "--scheduler", "synchronous")
    db.chmod(0o644)

    one_line_error(completed, f"cannot update the audit store {db}", "readonly")
    assert run_cli("audit", folder, "--db", db, "--no-probe", "--scheduler", "synchronous").returncode == 0
    assert [run.status for run in sanitize.history(db)] == ["complete", "complete"]
