"""The filesystem side of quarantine and restore: which files may move, and moving one.

A path may move only when it stays inside its root, passes through no symlink, names a regular
file and is not one of QDIR's own files; a check that fails raises Skip with the reason. A move is
a single `os.replace` on one filesystem; across filesystems the file is copied beside its
destination, fsync'd and verified by sha256 before it is renamed into place and the original removed.
The caller journals each move before making it (see journal.py).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from sanitize.quarantine.outcomes import CONFLICT, MISSING, REFUSED, STALE, UNVERIFIED, Skip
from sanitize.storage import PARTIAL_SUFFIX, fsync_dir, partial_name, sha256_of

#: QDIR's own files, which journal.py writes at its top level.
JOURNAL = "journal.jsonl"
MANIFEST = "manifest.jsonl"
#: Names QDIR keeps for itself at its top level.
RESERVED = {JOURNAL, MANIFEST}
#: The manifest while it is written (storage.atomic_write_text's name: `.manifest.jsonl.PID.tmp`),
#: reserved too, and left behind by a run killed while writing it.
MANIFEST_TEMPORARY = re.compile(rf"\.{re.escape(MANIFEST)}\.\d+\.tmp")


def source_sha256(path: Path) -> str:
    """sha256_of, or Skip when the file vanished or cannot be read since it was selected."""
    try:
        return sha256_of(path)
    except FileNotFoundError:
        raise Skip(MISSING, f"{path} vanished before it was moved") from None
    except OSError as exc:
        raise Skip(REFUSED, f"cannot read {path}: {exc.strerror}") from None


def copy_verified(src: Path, dst: Path, sha256: str) -> None:
    """Copy with mode and mtime, fsync, re-read the copy from disk and check its sha256, then place it."""
    partial = partial_name(dst)
    digest = hashlib.sha256()
    with open(src, "rb") as source, open(partial, "wb") as copy:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            copy.write(chunk)
        copy.flush()
        shutil.copystat(src, partial)
        os.fsync(copy.fileno())
        os.posix_fadvise(copy.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # the check below reads the disk
    if digest.hexdigest() != sha256 or sha256_of(partial) != sha256:
        partial.unlink()
        raise Skip(STALE, "its bytes changed while it was being moved; nothing moved")
    try:
        place_new(partial, dst)
    except Skip:
        partial.unlink()
        raise
    fsync_dir(dst.parent)
    src.unlink()


#: link() errors of a filesystem without hard links.
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}


def place_new(src: Path, dst: Path) -> None:
    """Rename `src` to `dst` only if `dst` does not exist: link then unlink, so a file that appears
    at `dst` between any check and the move is never overwritten (a rename would replace it).
    A kill between the two leaves both names on one file, which settling a journal finishes.
    Where the filesystem has no hard links, it checks and renames (a window of a few microseconds)."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise Skip(CONFLICT, f"{dst} exists now; not overwritten, nothing moved") from None
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(dst):
            raise Skip(CONFLICT, f"{dst} exists now; not overwritten, nothing moved") from None
        os.replace(src, dst)
        return
    src.unlink()


def move_file(src: Path, dst: Path, sha256: str) -> None:
    """Move one file that the journal already records, never over an existing file (place_new),
    or across filesystems by a verified copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        place_new(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_verified(src, dst, sha256)


def safe_relpath(path: str) -> str:
    """The entry as a normalised relative path, or Skip if it could reach outside its root."""
    if PurePosixPath(path).is_absolute() or Path(path).is_absolute():
        raise Skip(REFUSED, "absolute path; only paths inside the dataset root are moved")
    relpath = os.path.normpath(path).replace(os.sep, "/")
    if relpath == "." or ".." in PurePosixPath(relpath).parts:
        raise Skip(REFUSED, "escapes the dataset root ('..'); never touched")
    if relpath in RESERVED or MANIFEST_TEMPORARY.fullmatch(relpath) or relpath.endswith(PARTIAL_SUFFIX):
        raise Skip(REFUSED, "its name is reserved by the quarantine folder")
    return relpath


def inside(real_dir: Path, relpath: str) -> Path:
    """real_dir/relpath, or Skip if any part of it is a symlink (it could lead anywhere)."""
    full = real_dir / relpath
    if os.path.realpath(full) != str(full):
        raise Skip(REFUSED, "a symlink (or under one); never moved")
    return full


def regular_file(path: Path) -> os.stat_result:
    """The file's lstat, or Skip when it is missing, cannot be stat'ed or is not a regular file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise Skip(MISSING, f"no file at {path}") from None
    except OSError as exc:
        raise Skip(REFUSED, f"cannot stat {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise Skip(REFUSED, f"{path} is not a regular file")
    return info


def check_fresh(src: Path, info: dict[str, Any]) -> os.stat_result:
    """The file's stat, or Skip when it is not the file the scan judged (size or mtime differ)."""
    now = regular_file(src)
    if info.get("size") is None or info.get("mtime_ns") is None:
        raise Skip(
            UNVERIFIED,
            "the scan recorded no size and mtime for this file (a dataset-wide finding such as"
            " probe:scale_outlier), so whether it changed since cannot be told; not moved",
        )
    if (now.st_size, now.st_mtime_ns) != (info["size"], info["mtime_ns"]):
        raise Skip(STALE, "size or mtime differ from the scan's; re-scan, then quarantine")
    return now
