"""paths: an entry must name an existing file inside the dataset root.

Runs before anything is opened: an entry that escapes the root (`../x.jpg`, an absolute path
elsewhere, a symlink pointing out) is never read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from sanitize.findings import Finding, error
from sanitize.model import Sample


class _Codes(NamedTuple):
    outside_root: str
    missing: str
    not_a_file: str


_IMAGE = _Codes("outside_root", "missing", "not_a_file")
_MASK = _Codes("mask_outside_root", "mask_missing", "mask_not_a_file")


def _check_file(file: str, real_root: Path, codes: _Codes, what: str) -> list[Finding]:
    real = Path(os.path.realpath(file))
    if not real.is_relative_to(real_root):
        how = "a symlink that resolves" if os.path.islink(file) else "resolves"
        message = f"{what}{how} outside the dataset root ({real}); never opened"
        return [error("paths", codes.outside_root, message)]
    if not real.exists():
        return [error("paths", codes.missing, f"{what}no such file")]
    if not real.is_file():
        return [error("paths", codes.not_a_file, f"{what}not a regular file")]
    return []


def check_paths(sample: Sample, real_root: Path) -> list[Finding]:
    """`real_root` is the dataset root with every symlink resolved."""
    return _check_file(sample.file, real_root, _IMAGE, "")


def check_mask_path(sample: Sample, real_root: Path) -> list[Finding]:
    """A segmentation sample's mask, held to the same rules (`mask_outside_root`, `mask_missing`, ...)."""
    return [] if sample.mask_file is None else _check_file(sample.mask_file, real_root, _MASK, "mask: ")
