"""Caffe ImageData list files: `relative/path label` per line.

The label is the last whitespace-separated field, so paths may contain spaces. Blank lines
and `#` comments are skipped. A line with a single field is a sample with no label (the
label check reports it) rather than a reason to stop.

A segmentation list (VOC/Caffe style) has `image mask` per line instead; it is recognised by a
majority vote of its sample lines: when more than half end in a path with a sample extension
rather than a label, the list is `image mask` lines (so one stray line cannot flip it either
way). `--task` forces one reading. Its samples carry the mask path and no label.
"""

from __future__ import annotations

from pathlib import Path

from sanitize.datasets import Dataset, read_text
from sanitize.formats import EXTENSION_FORMATS, sample_suffix
from sanitize.model import Sample


def parse_line(line: str) -> tuple[str, str | None]:
    """Split a list line into (path, label text or None)."""
    fields = line.rsplit(maxsplit=1)
    if len(fields) == 1:
        return fields[0], None
    return fields[0], fields[1]


def names_a_mask(path: str, last_field: str | None) -> bool:
    """Whether a line is `image mask` (both fields name sample files) rather than `image label`."""
    return last_field is not None and all(
        sample_suffix(field.rpartition("/")[2]) in EXTENSION_FORMATS for field in (path, last_field)
    )


def read(source: Path, root: Path, *, task: str | None = None) -> Dataset:
    """`task` "segmentation" forces `image mask` lines, "classification" `image label` lines."""
    entries = []
    for raw in read_text(source).splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            entries.append(parse_line(line))
    if task is None:
        pairs = sum(names_a_mask(path, last) for path, last in entries)
        task = "segmentation" if pairs * 2 > len(entries) else "classification"  # most lines decide
    if task == "segmentation":
        samples = [Sample.under(root, i, path, mask=mask) for i, (path, mask) in enumerate(entries)]
    else:
        samples = [Sample.under(root, i, path, label) for i, (path, label) in enumerate(entries)]
    return Dataset("listfile", source, root, samples, task=task)
