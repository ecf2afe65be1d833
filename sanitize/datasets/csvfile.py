"""CSV datasets with a header row: a path column and a label column."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sanitize.datasets import Dataset, open_text
from sanitize.errors import SanitizeError
from sanitize.model import Sample
from sanitize.remote import ObjectStore


def _rows(source: Path | str, path_column: str, label_column: str, fs: Any = None) -> Iterator[tuple[str, str | None]]:
    """(path, label) of each row with a path, the header checked first."""
    reader = None
    try:
        with open_text(source, fs) as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            for column, option in ((path_column, "--path-column"), (label_column, "--label-column")):
                if column not in header:
                    names = ", ".join(header) or "empty"
                    raise SanitizeError(
                        f"{source}: no column {column!r} in the header ({names}); name it with {option}"
                    )
            for row in reader:
                path = (row.get(path_column) or "").strip()
                if path:
                    yield path, (row.get(label_column) or "").strip() or None
    except csv.Error as exc:  # a field over the csv module's size limit, a NUL byte, ...
        line = reader.line_num if reader is not None else 0
        raise SanitizeError(f"{source} line {line} is not CSV the reader accepts: {exc}") from None
    except OSError as exc:
        raise SanitizeError(f"cannot read {source}: {exc.strerror}") from None


def read(
    source: Path | str, root: Path | str, *, path_column: str, label_column: str, store: ObjectStore | None = None
) -> Dataset:
    """Counted (and checked) once here; read again at each pass over the samples."""
    fs = store.filesystem() if store is not None else None
    size = sum(1 for _ in _rows(source, path_column, label_column, fs))

    under = os.fspath(root)  # a str once, not a Path made one for every sample

    def listing() -> Iterator[Sample]:
        for i, (path, label) in enumerate(_rows(source, path_column, label_column, fs)):
            yield Sample.under(under, i, path, label)

    return Dataset("csv", source, root, listing, size=size, store=store)
