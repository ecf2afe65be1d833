"""torchvision-style ImageFolder: one sub-folder per class, class index = sorted position.

Like torchvision, class folders are found with `is_dir()` (symlinks followed) and walked with
links followed; unlike a naive walk, a directory is never entered twice, so a link back up the
tree cannot loop. Files outside the class folders and files of other kinds are not samples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sanitize.datasets import Dataset
from sanitize.errors import SanitizeError
from sanitize.formats import EXTENSION_FORMATS, sample_suffix
from sanitize.model import Sample


def _is_excluded(directory: Path, exclude: tuple[Path, ...]) -> bool:
    real = Path(os.path.realpath(directory))
    return any(real == ex or real.is_relative_to(ex) for ex in exclude)


def sample_files(root: Path, class_dir: Path, exclude: tuple[Path, ...]) -> list[str]:
    """Relative paths (with `/`) of the sample files below one class folder, sorted."""
    found: list[str] = []
    seen: set[str] = set()
    for current, dirs, files in os.walk(class_dir, followlinks=True):
        real = os.path.realpath(current)
        if real in seen or _is_excluded(Path(current), exclude):
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        rel_dir = Path(current).relative_to(root).as_posix()
        found.extend(f"{rel_dir}/{name}" for name in files if sample_suffix(name) in EXTENSION_FORMATS)
    return sorted(found)


def read(root: Path, *, exclude: tuple[Path, ...] = ()) -> Dataset:
    exclude = tuple(Path(os.path.realpath(p)) for p in exclude)
    try:
        class_dirs = sorted(
            entry.name for entry in os.scandir(root) if entry.is_dir() and not _is_excluded(Path(entry.path), exclude)
        )
    except OSError as exc:
        raise SanitizeError(f"cannot list {root}: {exc.strerror}") from None
    if not class_dirs:
        raise SanitizeError(f"{root} has no class folders (expected ImageFolder: root/<class>/<file>)")
    base = os.fspath(root)

    def listing() -> Iterator[Sample]:
        """Class by class: only one class folder's names are held (sorted) at a time."""
        index = 0
        for label, name in enumerate(class_dirs):
            text = str(label)
            for rel in sample_files(root, root / name, exclude):
                yield Sample.under(base, index, rel, text)
                index += 1

    return Dataset("imagefolder", root, root, listing, class_names=class_dirs)
