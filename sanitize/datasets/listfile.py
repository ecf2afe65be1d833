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

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sanitize.datasets import Dataset, text_lines
from sanitize.formats import EXTENSION_FORMATS, sample_suffix
from sanitize.model import Sample
from sanitize.remote import ObjectStore


def parse_line(line: str) -> tuple[str, str | None]:
    """Split a list line into (path, label text or None)."""
    fields = line.rsplit(maxsplit=1)
    if len(fields) == 1:
        return fields[0], None
    return fields[0], fields[1]


def names_a_mask(path: str, last_field: str | None) -> bool:
    """Whether a line is `image mask` (both fields name sample files) rather than `image label`."""
    if last_field is None or last_field.isdigit():  # a label, as on nearly every line: no suffix
        return False
    return all(sample_suffix(field.rpartition("/")[2]) in EXTENSION_FORMATS for field in (path, last_field))


def _entries(source: Path | str, fs: Any = None) -> Iterator[tuple[str, str | None]]:
    for raw in text_lines(source, fs):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield parse_line(line)


def read(source: Path | str, root: Path | str, *, task: str | None = None, store: ObjectStore | None = None) -> Dataset:
    """`task` "segmentation" forces `image mask` lines, "classification" `image label` lines.
    The file is read once here (to count its entries, and vote on its task when not given) and
    again at each pass over the samples, never kept whole."""
    entries = pairs = 0
    fs = store.filesystem() if store is not None else None
    for path, last in _entries(source, fs):
        entries += 1
        pairs += task is None and names_a_mask(path, last)
    if task is None:
        task = "segmentation" if pairs * 2 > entries else "classification"  # most lines decide
    segmentation = task == "segmentation"

    under = os.fspath(root)  # a str once, not a Path made one for every sample

    def listing() -> Iterator[Sample]:
        for i, (path, last) in enumerate(_entries(source, fs)):
            yield Sample.under(under, i, path, mask=last) if segmentation else Sample.under(under, i, path, last)

    return Dataset("listfile", source, root, listing, size=entries, task=task, store=store)
