"""paths: an entry must name an existing file inside the dataset root.

Runs before anything is opened: an entry that escapes the root (`../x.jpg`, an absolute path
elsewhere, a symlink pointing out) is never read.
"""

from __future__ import annotations

import os
from pathlib import Path

from sanitize.types import Finding, Sample, error


def check_paths(sample: Sample, real_root: Path) -> list[Finding]:
    """`real_root` is the dataset root with every symlink resolved."""
    real = Path(os.path.realpath(sample.file))
    if not real.is_relative_to(real_root):
        how = "a symlink that resolves" if sample.file.is_symlink() else "resolves"
        return [error("paths", "outside_root", f"{how} outside the dataset root ({real}); never opened")]
    if not real.exists():
        return [error("paths", "missing", "no such file")]
    if not real.is_file():
        return [error("paths", "not_a_file", "not a regular file")]
    return []
