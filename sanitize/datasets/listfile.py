"""Caffe ImageData list files: `relative/path label` per line.

The label is the last whitespace-separated field, so paths may contain spaces. Blank lines
and `#` comments are skipped. A line with a single field is a sample with no label (the
label check reports it) rather than a reason to stop.
"""

from __future__ import annotations

from pathlib import Path

from sanitize.datasets import Dataset, read_text
from sanitize.types import Sample


def parse_line(line: str) -> tuple[str, str | None]:
    """Split a list line into (path, label text or None)."""
    fields = line.rsplit(maxsplit=1)
    if len(fields) == 1:
        return fields[0], None
    return fields[0], fields[1]


def read(source: Path, root: Path) -> Dataset:
    samples = []
    for raw in read_text(source).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        path, label = parse_line(line)
        samples.append(Sample(len(samples), path, root / path, label))
    return Dataset("listfile", source, root, samples)
