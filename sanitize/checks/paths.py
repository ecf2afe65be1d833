"""paths: an entry must name an existing regular file inside the dataset root.

Runs before anything is opened: an entry that escapes the root (`../x.jpg`, an absolute path
elsewhere, a symlink pointing out) is never read.

A PathGuard resolves each directory once (per guard: the checks of one batch), so a sample
costs one lstat of its own file, not one per component of its path (os.path.realpath's cost,
which was more than decoding a small image). Only a file that is itself a symlink is resolved
whole.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import NamedTuple

from sanitize.findings import Finding, error
from sanitize.model import Sample
from sanitize.remote import ObjectRoot, normalized

#: lstat errors that mean "no such file here" (os.path.exists is False for each).
_ABSENT = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG}


class _Codes(NamedTuple):
    outside_root: str
    missing: str
    not_a_file: str
    unreadable: str


_IMAGE = _Codes("outside_root", "missing", "not_a_file", "unreadable")
_MASK = _Codes("mask_outside_root", "mask_missing", "mask_not_a_file", "mask_unreadable")


class PathGuard:
    """Judges the paths of samples against one dataset root (`real_root`: every symlink resolved),
    or, for a dataset in object storage, against its root prefix (an ObjectRoot); there the status
    of each object is kept for loading it (its size is judged before any byte is fetched)."""

    def __init__(self, real_root: Path | str | ObjectRoot) -> None:
        self.store = real_root.store if isinstance(real_root, ObjectRoot) else None
        if self.store is not None:
            self.store.fresh_filesystem()
        self.root = real_root.url if isinstance(real_root, ObjectRoot) else os.fspath(real_root)
        self.prefix = self.root if self.root.endswith("/") else f"{self.root}/"
        self.dirs: dict[str, str] = {}
        #: object URL -> its status (size, last modified), for load.
        self.objects: dict[str, dict] = {}

    def _real_dir(self, head: str) -> str:
        real = self.dirs.get(head)
        if real is None:
            real = self.dirs[head] = os.path.realpath(head)
        return real

    def _resolve(self, file: str) -> tuple[str, os.stat_result | None, bool]:
        """(the file's real path, its status if known, whether it is known to be absent)."""
        head, _, leaf = file.rpartition("/")
        if not head or leaf in ("", ".", ".."):
            return os.path.realpath(file), None, False
        real_dir = self._real_dir(head)
        joined = f"{real_dir}{leaf}" if real_dir.endswith("/") else f"{real_dir}/{leaf}"
        try:
            status = os.lstat(file)
        except OSError as exc:
            if exc.errno not in _ABSENT:
                raise
            return joined, None, True
        if stat.S_ISLNK(status.st_mode):
            return os.path.realpath(file), None, False
        return joined, status, False

    def _judge_object(self, file: str, codes: _Codes, what: str) -> list[Finding]:
        url = normalized(file)
        if url != self.root and not url.startswith(self.prefix):
            return [error("paths", codes.outside_root, f"{what}outside the dataset's prefix {self.root}; never read")]
        try:
            status = self.store.filesystem().info(url)
        except FileNotFoundError:
            return [error("paths", codes.missing, f"{what}no such object")]
        except OSError as exc:  # the store refused or kept failing after its own retries
            return [error("paths", codes.unreadable, f"{what}the object's status cannot be read: {exc}")]
        if status.get("type") != "file":
            return [error("paths", codes.not_a_file, f"{what}not an object (a prefix)")]
        self.objects[file] = status
        return []

    def _judge(self, file: str, codes: _Codes, what: str) -> list[Finding]:
        if self.store is not None:
            return self._judge_object(file, codes, what)
        if "\0" in file:  # no file can have it in its name; os calls would raise ValueError
            return [error("paths", codes.missing, f"{what}no such file (a NUL character in the name)")]
        real, status, absent = self._resolve(file)
        if real != self.root and not real.startswith(self.prefix):
            how = "a symlink that resolves" if os.path.islink(file) else "resolves"
            message = f"{what}{how} outside the dataset root ({real}); never opened"
            return [error("paths", codes.outside_root, message)]
        if status is None and not absent:
            try:
                status = os.stat(real)
            except OSError as exc:
                if exc.errno not in _ABSENT:
                    raise
                absent = True
        if absent:
            return [error("paths", codes.missing, f"{what}no such file")]
        if not stat.S_ISREG(status.st_mode):
            return [error("paths", codes.not_a_file, f"{what}not a regular file")]
        return []

    def image(self, sample: Sample) -> list[Finding]:
        return self._judge(sample.file, _IMAGE, "")

    def mask(self, sample: Sample) -> list[Finding]:
        """A segmentation sample's mask, held to the same rules (`mask_outside_root`, `mask_missing`, ...)."""
        return [] if sample.mask_file is None else self._judge(sample.mask_file, _MASK, "mask: ")


def check_paths(sample: Sample, real_root: Path) -> list[Finding]:
    """One sample's file, judged alone (a batch shares one PathGuard)."""
    return PathGuard(real_root).image(sample)


def check_mask_path(sample: Sample, real_root: Path) -> list[Finding]:
    """One sample's mask, judged alone."""
    return PathGuard(real_root).mask(sample)
