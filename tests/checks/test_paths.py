"""The paths check: entries escaping the root are never opened; missing files are errors."""

from __future__ import annotations

import os
from pathlib import Path

from sanitize.checks.paths import check_paths
from sanitize.model import Sample


def _check(root: Path, name: str) -> set[str]:
    sample = Sample.under(root, 0, name, "0")
    return {f.code for f in check_paths(sample, Path(os.path.realpath(root)))}


def test_file_inside_root_passes(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert _check(tmp_path, "a.jpg") == set()


def test_dotdot_escape(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"x")
    assert _check(root, "../secret.jpg") == {"outside_root"}


def test_absolute_path_elsewhere(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"x")
    assert _check(root, str(tmp_path / "secret.jpg")) == {"outside_root"}


def test_symlink_pointing_out(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"x")
    (root / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    sample = Sample.under(root, 0, "link.jpg", "0")
    (finding,) = check_paths(sample, Path(os.path.realpath(root)))
    assert finding.code == "outside_root"
    assert "symlink" in finding.message


def test_symlink_inside_root_passes(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    assert _check(tmp_path, "b.jpg") == set()


def test_missing_file(tmp_path):
    assert _check(tmp_path, "nope.jpg") == {"missing"}


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "d.jpg").mkdir()
    assert _check(tmp_path, "d.jpg") == {"not_a_file"}
