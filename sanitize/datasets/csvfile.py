"""CSV datasets with a header row: a path column and a label column."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sanitize.datasets import Dataset, read_text
from sanitize.errors import SanitizeError
from sanitize.model import Sample


def read(source: Path, root: Path, *, path_column: str, label_column: str) -> Dataset:
    reader = csv.DictReader(io.StringIO(read_text(source), newline=""))
    header = reader.fieldnames or []
    for column, option in ((path_column, "--path-column"), (label_column, "--label-column")):
        if column not in header:
            raise SanitizeError(
                f"{source}: no column {column!r} in the header ({', '.join(header) or 'empty'}); name it with {option}"
            )
    samples = []
    for row in reader:
        path = (row.get(path_column) or "").strip()
        if not path:
            continue
        label = (row.get(label_column) or "").strip() or None
        samples.append(Sample.under(root, len(samples), path, label))
    return Dataset("csv", source, root, samples)
