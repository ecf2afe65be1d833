"""What a JPEG's entropy-coded data shows that no clean encoder produces, though libjpeg-turbo decodes it silently.

A flipped bit that libjpeg-turbo decodes without a word (see sanitize/load/concealed.py) leaves
marks in the Huffman stream itself, which the pixels of its DCT-downscaled decode no longer show
(they are clamped to 0-255). The compiled decoder `_entropy` (a C port of
benchmarks/jpeg_entropy.py) counts them in one pass, which also gives each component's DC values and
edge sums (sanitize/load/dc_grid.py) and, asked for, the step check run on them and the 1/8-scale
picture libjpeg-turbo would make; this module names the marks and says where each starts. Each
was measured on seeded flips of real photographs and never fires on a clean file
(benchmarks/concealed_signals.py; docs/checks.md#concealed-jpeg-corruption).

Without a C compiler at install time `_entropy` is missing, and `available()` says so: the
detector then judges the pixels alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

try:
    from sanitize.load import _entropy
except ImportError:  # built without a compiler (setup.py: optional)
    _entropy = None

#: The events libjpeg-turbo decodes silently, what each means, in the order a message prefers them.
SILENT = {
    "c_dc_range": "a DC value no 8-bit picture's DCT gives",
    "e_dc_gamut": "an MCU's mean colour (from its DC values) outside the RGB cube",
    "b_ac_range": "an AC coefficient no 8-bit picture's DCT gives",
    "a_past_end": "a run of zeros past the block's last coefficient",
    "e_bad_code": "a bit pattern that is no code of the Huffman table",
    "e_zrl_eob": "a run of 16 zeros followed by the end of the block",
    "e_eobrun_past_end": "an end-of-band run past the last block",
    "d_padding": "padding bits after the last block that are neither all 1s nor all 0s",
    "d_bytes_left": "whole bytes after the last block that libjpeg drops",
    "e_restarts": "restart markers that do not match the restart interval",
}

#: Each silent event's place in SILENT.
_ORDER = {name: place for place, name in enumerate(SILENT)}


def available() -> bool:
    """Whether the compiled decoder was built (setup.py builds it where a C compiler is)."""
    return _entropy is not None


@dataclass(frozen=True)
class Mark:
    """One kind of mark: how many times it was met, and the first MCU (row, column; -1 if none) it was at,
    in a grid of `shape` MCUs."""

    name: str
    count: int
    row: int
    column: int
    shape: tuple[int, int]

    @property
    def meaning(self) -> str:
        return SILENT[self.name]


@dataclass(frozen=True)
class Plane:
    """One component as the entropy decoding leaves it: its sampling factors, its DC quantisation step
    and, per block (its MCU grid's rows x cols), the quantised DC value (the running sum, unclamped)
    and the AC part of the block's extrapolated top and bottom edge levels (see _entropy.c)."""

    h: int
    v: int
    dc_step: int
    dc: np.ndarray
    top: np.ndarray
    bottom: np.ndarray


#: A Plane's arrays, by their names in the compiled decoder's result.
_ARRAYS = (("dc", np.int32), ("top", np.float32), ("bottom", np.float32))


class Entropy:
    """What one pass over a JPEG's entropy-coded data gives (`entropy_decode`): its marks, its size
    (width, height), its planes (made when first asked for); when asked for, the picture at 1/8
    scale exactly as strict libjpeg-turbo decodes it (height, width, channels), for a file
    libjpeg-turbo would decode without a word and that carries no mark, else None; and, when asked
    for, what the step check found (`step_check`: see sanitize/load/dc_grid.py compiled_grid_step),
    else None."""

    def __init__(self, result: dict) -> None:
        self._result = result
        shape = (result["mcuy"], result["mcux"])
        self.marks = sorted(
            (
                Mark(name, count, *(divmod(where, shape[1]) if where >= 0 else (-1, -1)), shape)
                for name, (count, where) in result["events"].items()
                if name in SILENT
            ),
            key=lambda mark: _ORDER[mark.name],
        )
        self.size: tuple[int, int] = (result["width"], result["height"])
        self.step_check: tuple[int, int, list[tuple[int, int, int, float, float]]] | None = result["steps"]
        self.eighth: np.ndarray | None = None
        if result["eighth"] is not None and not self.marks:
            raw, height, width, channels = result["eighth"]
            self.eighth = np.frombuffer(raw, np.uint8).reshape(height, width, channels)  # as simplejpeg gives it

    @cached_property
    def planes(self) -> list[Plane]:
        if self._result["components"] is None:
            raise ValueError("the planes were not asked for (entropy_decode(planes=False))")
        return [
            Plane(
                c["h"],
                c["v"],
                c["dc_step"],
                *(np.frombuffer(c[name], dtype).reshape(c["rows"], c["cols"]) for name, dtype in _ARRAYS),
            )
            for c in self._result["components"]
        ]


def entropy_decode(
    data: bytes,
    eighth: bool = False,
    step_check: tuple[float, float, int, int, int, float] | None = None,
    planes: bool = True,
) -> Entropy | None:
    """One pass over a JPEG's entropy-coded data; None when the file is not judged here (no compiled
    decoder; not 8-bit Huffman sequential or progressive; headers it cannot follow; a progressive JPEG
    of over 16M coefficients; a sequential one declaring more than 4 blocks a byte of file, whose data
    must run out). `eighth` asks for the picture; `step_check` (sanitize/load/dc_grid.py STEP_CHECK)
    for the step check, run in C on what the pass has just decoded (sanitize/load/_grid_step.c); without
    `planes`, the planes are not handed over (the scan's pass: making their arrays costs a sixth of the
    pass on a tiny JPEG), and `Entropy.planes` raises."""
    result = None if _entropy is None else _entropy.decode(data, eighth=eighth, step_check=step_check, planes=planes)
    if result is None:
        return None
    return Entropy(result)


def entropy_marks(data: bytes) -> list[Mark] | None:
    """The silent marks of damage in a JPEG's entropy-coded data, most telling first; [] for none; None
    when the file is not judged here (see `entropy_decode`)."""
    decoded = entropy_decode(data, planes=False)
    return None if decoded is None else decoded.marks
