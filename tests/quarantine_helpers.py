"""Datasets and tree fingerprints shared by the quarantine tests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

import sanitize
from tests.conftest import png_bytes


def make_imagefolder(root: Path, good: int, bad: int) -> None:
    """Two classes: tiny valid PNGs in `good/`, junk named .jpg in `bad/` (errors), with mixed modes."""
    for name in ("good", "bad"):
        (root / name).mkdir(parents=True)
    for i in range(good):
        path = root / "good" / f"{i:04d}.png"
        path.write_bytes(png_bytes(np.full((4, 4), i % 256, dtype=np.uint8)))
        os.chmod(path, 0o600 if i % 3 == 0 else 0o644)
    for i in range(bad):
        path = root / "bad" / f"{i:04d}.jpg"
        path.write_bytes(b"not a jpeg %d " % i * (1 + i % 5))
        os.chmod(path, 0o640 if i % 2 else 0o644)


def scan_to(source: Path, out: Path, **options) -> sanitize.Report:
    options.setdefault("probe", False)
    return sanitize.scan(source, scheduler="synchronous", out=out, **options)


def scanned_imagefolder(tmp_path: Path, good: int, bad: int) -> tuple[Path, Path]:
    """(tmp_path/data, made by make_imagefolder; tmp_path/report, its scan report)."""
    make_imagefolder(tmp_path / "data", good=good, bad=bad)
    scan_to(tmp_path / "data", tmp_path / "report")
    return tmp_path / "data", tmp_path / "report"


def files_of(top: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[str, int]]:
    """Relative path -> (sha256, mode) of every file below `top`, skipping top-level names in `skip`."""
    found = {}
    for current, _, names in os.walk(top):
        for name in names:
            path = Path(current) / name
            rel = path.relative_to(top).as_posix()
            if rel in skip:
                continue
            found[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), os.lstat(path).st_mode)
    return found


def tree_digest(top: Path) -> str:
    """One hash of every file's relative path, bytes and mode."""
    return hashlib.sha256(repr(sorted(files_of(top).items())).encode()).hexdigest()


QDIR_OWN_FILES = ("journal.jsonl", "manifest.jsonl")


def quarantined_files(qdir: Path) -> dict[str, tuple[str, int]]:
    return files_of(qdir, skip=QDIR_OWN_FILES) if qdir.exists() else {}


def second_filesystem(than: Path) -> Path | None:
    """/dev/shm when it is another filesystem than `than` (it usually is: tmpfs)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and os.stat(shm).st_dev != os.stat(than).st_dev:
        return shm
    return None
