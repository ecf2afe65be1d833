"""Quarantine and restore given bad input: malformed reports and journals, unusable folders, typos,
odd segmentation lines. Each is a one-line error (exit 2) or a per-file outcome, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sanitize
from sanitize.errors import SanitizeError
from sanitize.quarantine import MISSING, MOVED, _plan_file, _quarantine_file
from sanitize.quarantine.journal import Journal
from sanitize.quarantine.outcomes import Skip
from tests.conftest import png_bytes, run_cli
from tests.quarantine_helpers import files_of, quarantined_files, scan_to, scanned_imagefolder, tree_digest

SOURCE = Path(sanitize.__file__).parent


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    """An ImageFolder with 3 good and 2 bad samples, and its scan report."""
    return scanned_imagefolder(tmp_path, good=3, bad=2)


def _one_line_error(completed, *words: str) -> None:
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.startswith("error:") and len(completed.stderr.splitlines()) == 1, completed.stderr
    assert all(word in completed.stderr for word in words), completed.stderr


# --- unusable quarantine folders ----------------------------------------------------------------


def test_a_qdir_that_is_a_file_or_cannot_be_created_is_a_one_line_error(folder, tmp_path):
    root, report = folder
    before = tree_digest(root)
    a_file = tmp_path / "q.txt"
    a_file.write_text("keep me\n")
    for extra in ((), ("--dry-run",)):
        _one_line_error(run_cli("quarantine", report, "--to", a_file, *extra), "not a folder")
    _one_line_error(run_cli("quarantine", report, "--to", "/proc/qq"), "cannot create")
    assert a_file.read_text() == "keep me\n" and tree_digest(root) == before


# --- segmentation lines naming one file twice, files vanishing -------------------------------------


def test_an_image_that_is_its_own_mask_moves_once_and_comes_back(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "a.png").write_bytes(png_bytes(np.full((16, 16), 9, dtype=np.uint8)))  # class 9 of 3: a mask error
    (root / "ok.png").write_bytes(png_bytes(np.full((16, 16), 1, dtype=np.uint8)))
    (root / "train.txt").write_text("a.png a.png\nok.png ok.png\n")
    scan_to(root / "train.txt", tmp_path / "report", num_classes=3)
    before = files_of(root)

    result = sanitize.quarantine(tmp_path / "report", tmp_path / "q")

    assert [(o.path, o.status) for o in result.outcomes] == [("a.png", MOVED)]
    assert result.exit_code == 0
    assert sorted(quarantined_files(tmp_path / "q")) == ["a.png"]
    assert [json.loads(line)["original"] for line in (tmp_path / "q" / "manifest.jsonl").read_text().splitlines()] == [
        "a.png"
    ]
    assert (root / "train.clean.txt").read_text() == "ok.png ok.png\n"
    assert sanitize.restore(tmp_path / "q").exit_code == 0
    assert files_of(root, skip=("train.clean.txt",)) == before


def test_a_file_that_vanishes_after_it_was_selected_is_missing_and_nothing_is_journaled(folder, tmp_path):
    root, _ = folder
    qdir = tmp_path / "q"
    qdir.mkdir()
    journal = Journal(qdir)
    src = root / "bad" / "0000.jpg"
    status = src.stat()
    planned = _plan_file("bad/0000.jpg", {"size": status.st_size, "mtime_ns": status.st_mtime_ns}, root, journal)
    src.unlink()  # gone between selection and move

    with pytest.raises(Skip) as skipped:
        _quarantine_file(planned, [], root, journal)

    assert skipped.value.status == MISSING
    assert journal.pending == {} and journal.present == {} and not (qdir / "journal.jsonl").exists()


# --- malformed reports and journals -------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda record: record.pop("findings"),
        lambda record: record.update(findings=[{"check": "decode"}]),
        lambda record: record.update(info=[1, 2]),
        lambda record: record.pop("path"),
    ],
)
def test_a_malformed_findings_record_is_a_one_line_error(folder, tmp_path, damage):
    root, report = folder
    before = tree_digest(root)
    findings = report / "findings.jsonl"
    records = [json.loads(line) for line in findings.read_text().splitlines()]
    damage(records[-1])
    findings.write_text("".join(json.dumps(r) + "\n" for r in records))

    with pytest.raises(SanitizeError, match="line 2 is not a findings record"):
        sanitize.quarantine(report, tmp_path / "q")
    _one_line_error(run_cli("quarantine", report, "--to", tmp_path / "q"), "not a readable scan report")
    assert tree_digest(root) == before and not (tmp_path / "q" / "journal.jsonl").exists()


def test_a_summary_without_the_dataset_kind_is_a_one_line_error(folder, tmp_path):
    _, report = folder
    summary = json.loads((report / "summary.json").read_text())
    del summary["dataset"]["kind"]
    (report / "summary.json").write_text(json.dumps(summary))
    _one_line_error(run_cli("quarantine", report, "--to", tmp_path / "q"), "not a readable scan report")


@pytest.mark.parametrize(
    "line, reason",
    [
        ("not json", "Expecting value"),
        ('{"id": 3, "done": true}', "no earlier line announces"),
        ('{"id": 4, "op": "quarantine", "record": {"original": "x"}}', "without a valid quarantined"),
        ('{"id": 5, "op": "fling", "record": {}}', "known op"),
        ("[1, 2]", "no integer id"),
    ],
)
def test_a_malformed_journal_line_is_a_one_line_error_for_restore_and_quarantine(folder, tmp_path, line, reason):
    root, report = folder
    qdir = tmp_path / "q"
    sanitize.quarantine(report, qdir)
    with open(qdir / "journal.jsonl", "a") as journal:
        journal.write(line + "\n")
    held = tree_digest(qdir)
    before = tree_digest(root)

    with pytest.raises(SanitizeError, match=reason):
        sanitize.restore(qdir)
    _one_line_error(run_cli("restore", qdir), "is not a quarantine journal line")
    _one_line_error(run_cli("quarantine", report, "--to", qdir), "is not a quarantine journal line")
    assert (tree_digest(qdir), tree_digest(root)) == (held, before)


# --- restore --only ---------------------------------------------------------------------------------


def test_restore_only_a_path_qdir_does_not_hold_is_missing_whether_or_not_qdir_is_empty(folder, tmp_path):
    root, report = folder
    qdir = tmp_path / "q"
    sanitize.quarantine(report, qdir)
    while_held = run_cli("restore", qdir, "--only", "good/0000.png")
    assert sanitize.restore(qdir).exit_code == 0  # now QDIR holds nothing

    emptied = run_cli("restore", qdir, "--only", "bad/0000.jpg")

    for completed in (while_held, emptied):
        assert completed.returncode == 1, completed.stdout + completed.stderr
        assert ": missing: not in the manifest" in completed.stdout
    assert "None" not in emptied.stdout and f"nothing left in {qdir} to restore" in emptied.stdout
    assert (root / "bad" / "0000.jpg").exists() and quarantined_files(qdir) == {}
    nothing_asked = run_cli("restore", qdir)
    assert nothing_asked.returncode == 0 and "restored 0 files" in nothing_asked.stdout


# --- --only CHECK ---------------------------------------------------------------------------------


def test_only_rejects_a_check_name_no_check_has(folder, tmp_path):
    root, report = folder
    before = tree_digest(root)
    with pytest.raises(SanitizeError, match="no check is called 'decod'"):
        sanitize.quarantine(report, tmp_path / "q", only=["decod"])
    _one_line_error(run_cli("quarantine", report, "--to", tmp_path / "q", "--only", "decod"), "decod")
    assert tree_digest(root) == before and not (tmp_path / "q").exists()
    assert sanitize.quarantine(report, tmp_path / "q", only=["format:not_an_image"]).exit_code == 0


def test_a_move_never_overwrites_a_file_that_appeared_at_its_destination(tmp_path):
    """The no-clobber primitive under restore and quarantine: even past the existence check, a
    file that now sits where a file is moved stays, and the moving file stays where it was."""
    from sanitize.quarantine.moves import move_file
    from sanitize.quarantine.outcomes import CONFLICT

    src, dst = tmp_path / "held" / "a.jpg", tmp_path / "root" / "a.jpg"
    src.parent.mkdir()
    dst.parent.mkdir()
    src.write_bytes(b"the quarantined copy")
    dst.write_bytes(b"written by someone else meanwhile")
    with pytest.raises(Skip) as refused:
        move_file(src, dst, "not needed on one filesystem")
    assert refused.value.status == CONFLICT
    assert src.read_bytes() == b"the quarantined copy" and dst.read_bytes() == b"written by someone else meanwhile"
    dst.unlink()
    move_file(src, dst, "not needed on one filesystem")
    assert dst.read_bytes() == b"the quarantined copy" and not src.exists()
