"""finite: NaN and +/-Inf in float data (float TIFFs, float .npy) poison every loss.

Integer images cannot hold them, so they cost nothing here.
"""

from __future__ import annotations

import numpy as np

from sanitize.config import ScanConfig
from sanitize.findings import Finding, error
from sanitize.model import Loaded


def check_finite(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    nan = posinf = neginf = total = 0
    for frame in loaded.float_frames:
        total += frame.size
        bad = ~np.isfinite(frame)
        if bad.any():
            values = np.asarray(frame)[bad]
            nan += int(np.isnan(values).sum())
            posinf += int(np.isposinf(values).sum())
            neginf += int(np.isneginf(values).sum())
    if nan + posinf + neginf == 0:
        return []
    counts = ", ".join(
        f"{count:,} {name}" for count, name in ((nan, "NaN"), (posinf, "+Inf"), (neginf, "-Inf")) if count
    )
    return [error("finite", "nonfinite", f"{counts} of {total:,} values")]
