"""Dataset readers: each turns one kind of input into a list of Samples.

A reader never opens a sample's file; it only names it. Whether the name is safe to open
is decided by the paths check, in the same place for every kind of input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sanitize.errors import SanitizeError
from sanitize.types import Sample


@dataclass
class Dataset:
    """The samples of one input plus what the input itself says about the classes."""

    kind: str
    source: Path
    root: Path
    samples: list[Sample]
    class_names: list[str] | None = None
    task: str = "classification"

    @property
    def num_classes(self) -> int | None:
        """The class count the input implies (only an ImageFolder implies one)."""
        return len(self.class_names) if self.class_names is not None else None


def open_dataset(
    source: Path | str,
    *,
    root: Path | str | None = None,
    path_column: str = "path",
    label_column: str = "label",
    exclude: tuple[Path, ...] = (),
    task: str | None = None,
) -> Dataset:
    """Read a dataset: a directory is an ImageFolder, a .csv a CSV, anything else a list file.

    `task` None lets a list file say what it is (`image mask` lines are segmentation).
    """
    from sanitize.datasets import csvfile, imagefolder, listfile

    source = Path(source)
    if not source.exists():
        raise SanitizeError(f"dataset not found: {source}")
    if task == "segmentation" and (source.is_dir() or source.suffix.lower() == ".csv"):
        raise SanitizeError("segmentation takes a list file of `image mask` lines, or --images DIR --masks DIR")
    if source.is_dir():
        if root is not None:
            raise SanitizeError("--root applies to list and CSV files, not to a folder")
        return imagefolder.read(source, exclude=exclude)
    root_dir = Path(root) if root is not None else source.parent
    if not root_dir.is_dir():
        raise SanitizeError(f"--root is not a directory: {root_dir}")
    if source.suffix.lower() == ".csv":
        return csvfile.read(source, root_dir, path_column=path_column, label_column=label_column)
    return listfile.read(source, root_dir, task=task)


def read_text(source: Path) -> str:
    """A list or CSV file's text, or a one-line SanitizeError saying why it cannot be read."""
    try:
        return source.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SanitizeError(f"{source} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SanitizeError(f"cannot read {source}: {exc.strerror}") from None


__all__ = ["Dataset", "open_dataset", "read_text"]
