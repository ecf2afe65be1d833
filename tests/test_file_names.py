"""File names that are not UTF-8: POSIX names are bytes, and a scraped dataset has some whose bytes
decode as no text (Python gives them as str with lone surrogates, os.fsdecode). One such name
must not stop a scan, a quarantine or an audit, and every output names the file by its own bytes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sanitize
from sanitize.audit.store import db_text, text_of
from sanitize.datasets.cleaned import write_cleaned_list
from sanitize.errors import SanitizeError
from sanitize.report.github import report_to_github
from sanitize.storage import json_text
from tests.conftest import cli_env, image_folder, jpeg_bytes

GOOD = b"\xff-good.jpg"  # not UTF-8: 0xff never occurs in it
BROKEN = b"caf\xe9-broken.jpg"  # Latin-1 e-acute


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = image_folder(tmp_path / "data", per_class=2)
    try:
        (root / "cat" / os.fsdecode(GOOD)).write_bytes(jpeg_bytes(seed=40))
        (root / "cat" / os.fsdecode(BROKEN)).write_bytes(jpeg_bytes(seed=41)[:300])
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    return root


def test_a_scan_names_files_by_their_own_bytes_in_every_output(folder, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sanitize", "scan", folder, "--out", tmp_path / "report"],
        env=cli_env(),
        capture_output=True,
        timeout=120,
        check=False,
    )  # bytes: the terminal table shows the name's own bytes, as ls does
    assert done.returncode == 1, done.stderr  # the broken file's error, not a crash
    assert b"cat/" + BROKEN in done.stdout and done.stderr == b""
    clean = (tmp_path / "report" / "clean.txt").read_bytes().splitlines()
    assert b"cat/" + GOOD + b" 0" in clean and not any(BROKEN in line for line in clean)
    lines = (tmp_path / "report" / "findings.jsonl").read_bytes().decode("utf-8").splitlines()  # valid UTF-8
    flagged = [json.loads(line) for line in lines]
    assert [os.fsencode(r["path"]) for r in flagged] == [b"cat/" + BROKEN]
    summary = json.loads((tmp_path / "report" / "summary.json").read_bytes().decode("utf-8"))
    assert summary["samples"]["with_errors"] == 1
    page = (tmp_path / "report" / "report.html").read_bytes().decode("utf-8")  # valid UTF-8 too
    assert "cat/caf\\xe9-broken.jpg" in page  # the byte that is no text, shown as an escape


def test_quarantine_and_restore_move_such_a_file_and_give_it_back(folder, tmp_path):
    report = sanitize.scan(folder, out=tmp_path / "report")
    original = (folder / "cat" / os.fsdecode(BROKEN)).read_bytes()
    moved = sanitize.quarantine(tmp_path / "report", tmp_path / "q")
    assert moved.exit_code == 0, moved.render()
    assert not (folder / "cat" / os.fsdecode(BROKEN)).exists()
    assert (tmp_path / "q" / "cat" / os.fsdecode(BROKEN)).read_bytes() == original
    assert sanitize.restore(tmp_path / "q").exit_code == 0
    assert (folder / "cat" / os.fsdecode(BROKEN)).read_bytes() == original
    assert report.error_count == 1


def test_an_audit_stores_such_names_and_finds_them_again(folder, tmp_path):
    db = tmp_path / "audit.sqlite"
    first = sanitize.audit(folder, db=db, out=tmp_path / "a1")
    again = sanitize.audit(folder, db=db, out=tmp_path / "a2")
    assert (first.checked, again.checked, again.reused) == (6, 0, 6)
    (folder / "cat" / os.fsdecode(GOOD)).unlink()
    after = sanitize.audit(folder, db=db, out=tmp_path / "a3")
    assert [os.fsencode(path) for path in after.diff.removed] == [b"cat/" + GOOD]


@pytest.mark.parametrize("name", ["plain.jpg", "café.jpg", os.fsdecode(BROKEN), None])
def test_the_store_keeps_any_name_and_gives_it_back(name):
    stored = db_text(name)
    assert text_of(stored) == name
    assert isinstance(stored, bytes) == (name == os.fsdecode(BROKEN))


def test_json_text_escapes_only_what_utf8_cannot_hold():
    assert json_text({"path": "café.jpg"}) == '{"path": "café.jpg"}'
    odd = json_text({"path": os.fsdecode(BROKEN)})
    odd.encode("utf-8")  # valid UTF-8, whatever the name
    assert os.fsencode(json.loads(odd)["path"]) == BROKEN


def test_a_terminal_whose_locale_is_strict_utf8_still_gets_the_table(folder, tmp_path):
    """Under a UTF-8 locale such as en_US.UTF-8 Python's stdout refuses lone surrogates (only the C
    and C.UTF-8 locales escape them): PYTHONIOENCODING=utf-8:strict stands for such a locale."""
    done = subprocess.run(
        [sys.executable, "-m", "sanitize", "scan", folder, "--out", tmp_path / "report"],
        env={**cli_env(), "PYTHONIOENCODING": "utf-8:strict"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert b"cat/" + BROKEN in done.stdout and done.stderr == b""


def test_github_annotations_and_step_summary_show_such_a_name_as_valid_utf8(folder, tmp_path):
    report = sanitize.scan(folder, scheduler="synchronous")
    summary, stream = tmp_path / "summary.md", io.StringIO()
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    assert report_to_github(report, 1, "FAIL", environ=environ, stream=stream)
    for text in (stream.getvalue(), summary.read_bytes().decode("utf-8")):  # valid UTF-8 both
        text.encode("utf-8")
        assert "cat/caf\\xe9-broken.jpg" in text


def test_clean_txt_naming_such_a_file_is_a_list_sanitize_reads_again(folder, tmp_path):
    """clean.txt names a file by its own bytes: as a list file (Caffe format) it must scan again,
    and a list or CSV written by hand with such a name names that file."""
    sanitize.scan(folder, out=tmp_path / "report", scheduler="synchronous")
    again = sanitize.scan(tmp_path / "report" / "clean.txt", root=folder, num_classes=2, scheduler="synchronous")
    assert again.valid, again.render()
    assert b"cat/" + GOOD in [os.fsencode(s.path) for s in again.samples]
    listed = tmp_path / "train.csv"
    listed.write_bytes(b"path,label\ncat/" + GOOD + b",0\ncat/" + BROKEN + b",0\n")
    by_csv = sanitize.scan(listed, root=folder, num_classes=2, scheduler="synchronous")
    assert [os.fsencode(r.path) for r in by_csv.flagged] == [b"cat/" + BROKEN]


def test_a_list_cleaned_by_quarantine_keeps_such_names_as_their_bytes(tmp_path):
    source = tmp_path / "train.txt"
    source.write_bytes(b"cat/" + GOOD + b" 0\ncat/" + BROKEN + b" 0\n")
    target, _ = write_cleaned_list(source, "list", "path", {"cat/" + os.fsdecode(BROKEN)}, in_place=False)
    assert target.read_bytes() == b"cat/" + GOOD + b" 0\n"


def test_a_dataset_whose_own_folder_name_is_not_utf8_can_be_audited_again(tmp_path):
    """The store records which dataset it audits (meta 'dataset'): that path, too, may be bytes."""
    try:
        root = image_folder(tmp_path / os.fsdecode(b"caf\xe9-data"), per_class=2)
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    db = tmp_path / "audit.sqlite"
    first = sanitize.audit(root, db=db, scheduler="synchronous")
    again = sanitize.audit(root, db=db, scheduler="synchronous")
    assert (first.checked, again.checked, again.reused) == (4, 0, 4)
    with pytest.raises(SanitizeError, match=r"holds the audits of .*caf"):
        sanitize.audit(image_folder(tmp_path / "other", per_class=1), db=db, scheduler="synchronous")
