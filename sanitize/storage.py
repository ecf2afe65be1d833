"""Low-level file helpers shared by the report, quarantine and audit: atomic, durable writes."""

from __future__ import annotations

import os
from pathlib import Path

from sanitize.errors import SanitizeError


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def make_folder(folder: Path, what: str = "folder") -> None:
    """Create a folder the run writes to (and its parents), or a one-line SanitizeError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SanitizeError(f"cannot create the {what} {folder}: {exc.strerror or exc}") from None
