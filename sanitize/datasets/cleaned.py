"""Cleaned lists: a list or CSV file written again without the lines of the samples dropped.

It lives beside the readers because it must parse a list line (and a CSV row) exactly as they do:
a line is dropped when the path a reader would take from it is one of the paths given. Either a
copy is written beside the list (`train.clean.txt`), or the list is rewritten in place after a
backup is kept (`train.txt.bak`, or `.bak.1`, `.bak.2`... so no earlier backup is overwritten).
Every file is written atomically: a run killed at any moment leaves the list or its backup whole.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

from sanitize.datasets import read_text
from sanitize.datasets.listfile import parse_line
from sanitize.errors import SanitizeError
from sanitize.storage import atomic_write_text, partial_name


def write_cleaned_list(
    source: Path, kind: str, path_column: str, dropped: set[str], in_place: bool
) -> tuple[Path, Path | None]:
    """Write `source` (a "csv" or a list file) without the lines naming a path in `dropped`.

    Returns the cleaned list and, with `in_place`, the backup of the original.
    """
    text = read_text(source)
    if kind == "csv":
        cleaned = _cleaned_csv(text, path_column, dropped)
    else:
        cleaned = "".join(line for line in text.splitlines(keepends=True) if not _names_one_of(line, dropped))
    if not in_place:
        target = source.with_name(f"{source.stem}.clean{source.suffix}")
        try:
            atomic_write_text(target, cleaned)
        except OSError as exc:
            raise SanitizeError(f"cannot write the cleaned list {target}: {exc.strerror or exc}") from None
        return target, None
    backup = _free_name(source.with_name(source.name + ".bak"))
    try:
        _copy_durably(source, backup)
    except OSError as exc:
        raise SanitizeError(f"cannot keep the backup {backup} of {source}: {exc.strerror or exc}") from None
    try:
        atomic_write_text(source, cleaned, mode=os.stat(backup).st_mode & 0o7777)
    except OSError as exc:
        raise SanitizeError(f"cannot rewrite {source} (it is unchanged): {exc.strerror or exc}") from None
    return source, backup


def _copy_durably(source: Path, backup: Path) -> None:
    """A byte-identical copy (mode and times kept) that takes its name only once whole and fsync'd."""
    partial = partial_name(backup)
    try:
        shutil.copy2(source, partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, backup)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _names_one_of(line: str, paths: set[str]) -> bool:
    entry = line.strip()
    return bool(entry) and not entry.startswith("#") and parse_line(entry)[0] in paths


def _cleaned_csv(text: str, path_column: str, dropped: set[str]) -> str:
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # it read when it was scanned: it changed since
        raise SanitizeError(f"the CSV is not CSV the reader accepts any more: {exc}") from None
    column = rows[0].index(path_column) if rows and path_column in rows[0] else None
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    for number, row in enumerate(rows):
        keep = number == 0 or column is None or column >= len(row) or row[column].strip() not in dropped
        if keep:
            writer.writerow(row)
    return out.getvalue()


def _free_name(path: Path) -> Path:
    """`path`, or `path.1`, `path.2`...: the first that does not exist, so no backup is overwritten."""
    candidate, number = path, 0
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{path.name}.{number}")
    return candidate
