"""decode:concealed_corruption: a JPEG damaged in a way strict libjpeg-turbo decodes without a word.

A flipped bit in a JPEG's entropy-coded data (bit rot, bad RAM, a flaky transfer) is caught by
strict decoding only when it breaks the Huffman stream; otherwise the decoder resynchronises and
returns a damaged picture silently. Three looks, cheapest and surest first:

1. the marks the entropy-coded data carries that no clean encoder leaves (sanitize/load/entropy.py);
2. a step at the block boundaries from one MCU on, from the DC values and edge sums of the same
   pass (sanitize/load/dc_grid.py);
3. where the compiled decoder is missing or does not judge the file, the step the pixels of the
   scan's DCT-downscaled decode show (sanitize/load/steps.py).

Measured recall, false positives and cost: docs/checks.md#concealed-jpeg-corruption.
"""

from __future__ import annotations

import numpy as np

from sanitize.config import ScanConfig
from sanitize.findings import Finding, Severity
from sanitize.load.dc_grid import STEP_CHECK, compiled_grid_step
from sanitize.load.entropy import Entropy, Mark, entropy_decode
from sanitize.load.steps import Step, concealed_step

_PLANE_NAMES = ("luma (Y)", "blue chroma (Cb)", "red chroma (Cr)")


def _step_message(step: Step) -> str:
    rows, cols = step.shape
    return (
        f"{_PLANE_NAMES[step.plane]} shifted by {step.offset:+.0f} levels from MCU row {step.row}, column"
        f" {step.column} (of {rows}x{cols}, counted from 0) on (strength {step.strength:.0f})"
    )


def _marks_message(marks: list[Mark]) -> str:
    first, (rows, cols) = marks[0], marks[0].shape
    where = f", the first at MCU row {first.row}, column {first.column} (of {rows}x{cols}, counted from 0)"
    others = f"; also {len(marks) - 1} other kind{'s' * (len(marks) > 2)} of mark" if len(marks) > 1 else ""
    return f"{first.meaning} ({first.count:,} in all{where * (first.row >= 0)}){others}"


def entropy_pass(data: bytes, eighth: bool) -> Entropy | None:
    """The pass over a JPEG's entropy-coded data concealed_damage judges (`entropy_decode`), with the
    step check run in it; with `eighth`, the picture it can make (a file with a quiet header)."""
    return entropy_decode(data, eighth=eighth, step_check=STEP_CHECK, planes=False)


def concealed_damage(data: bytes, pixels: np.ndarray, config: ScanConfig, decoded: Entropy | None) -> Finding | None:
    """decode:concealed_corruption for a JPEG strict libjpeg-turbo decoded without a word, or None: a
    warning, or an error under --concealed error. `pixels` are its strict DCT-downscaled decode,
    `decoded` its `entropy_pass` (None where that does not judge the file)."""
    if decoded is None:
        step = concealed_step(data, pixels)
        message = _step_message(step) if step is not None else None
    elif decoded.marks:
        message = _marks_message(decoded.marks)
    else:
        step = compiled_grid_step(decoded.step_check)
        message = _step_message(step) if step is not None else None
    if message is None:
        return None
    return Finding(
        "decode",
        "concealed_corruption",
        Severity.ERROR if config.concealed == "error" else Severity.WARNING,
        f"silent damage: {message}; libjpeg-turbo decodes it without an error (a flipped bit in the"
        " entropy-coded data)",
    )
