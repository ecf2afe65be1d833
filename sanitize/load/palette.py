"""RGB colour-coded masks: a palette file maps each colour to a class index.

The file is JSON, one entry per colour, `"R,G,B": class`:

    {"0,0,0": 0, "128,0,0": 1, "0,128,0": 2, "224,224,192": 255}

JSON and never pickle: a palette is read from wherever the user keeps it, and reading it
must not run code. A class may be the ignore label; other out-of-range classes are reported
by the mask range check like any stray pixel value.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sanitize.errors import SanitizeError

Palette = tuple[tuple[int, int, int, int], ...]


def _colour(key: str, source: Path) -> tuple[int, int, int]:
    parts = key.split(",")
    try:
        rgb = tuple(int(part) for part in parts)
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise SanitizeError(f'{source}: palette key {key!r} is not "R,G,B" with each value in 0..255')
    return rgb  # type: ignore[return-value]


def read_palette(source: Path | str) -> Palette:
    """The (r, g, b, class) rows of a JSON palette file, or a one-line SanitizeError."""
    source = Path(source)
    try:
        mapping = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SanitizeError(f"cannot read palette {source}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SanitizeError(f"palette {source} is not JSON: {exc}") from None
    if not isinstance(mapping, dict) or not mapping:
        raise SanitizeError(f'palette {source} must be a non-empty JSON object {{"R,G,B": class}}')
    rows = []
    for key, value in mapping.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise SanitizeError(f"{source}: the class of colour {key!r} must be an integer, got {value!r}")
        rows.append((*_colour(key, source), value))
    return tuple(sorted(rows))


def _keys(rgb: np.ndarray) -> np.ndarray:
    """One uint32 per colour: r << 16 | g << 8 | b."""
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def apply_palette(rgb: np.ndarray, palette: Palette) -> tuple[np.ndarray, dict[tuple[int, int, int], int]]:
    """(the class-index map, pixel counts of the colours the palette lacks) of an H x W x 3 mask."""
    table = np.asarray(palette, dtype=np.int64)
    table_keys = _keys(table[:, :3])
    keys = _keys(rgb[..., :3])
    position = np.searchsorted(table_keys, keys).clip(max=len(table_keys) - 1)
    known = table_keys[position] == keys
    unmapped: dict[tuple[int, int, int], int] = {}
    if not known.all():
        colours, counts = np.unique(keys[~known], return_counts=True)
        for key, count in zip(colours.tolist(), counts.tolist(), strict=True):
            unmapped[(key >> 16, (key >> 8) & 255, key & 255)] = count
    return table[position, 3], unmapped
