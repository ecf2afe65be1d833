"""finite: NaN and +/-Inf in float data (float TIFFs, float .npy) poison every loss.

The values are counted as each frame is decoded (sanitize.arrays.count_nonfinite, in bounded
chunks), so no frame is kept for this check; integer images cannot hold them and cost nothing.
"""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding, error
from sanitize.model import Loaded


def check_finite(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    found = loaded.nonfinite
    if found is None or found.nan + found.posinf + found.neginf == 0:
        return []
    counts = ", ".join(
        f"{count:,} {name}"
        for count, name in ((found.nan, "NaN"), (found.posinf, "+Inf"), (found.neginf, "-Inf"))
        if count
    )
    return [error("finite", "nonfinite", f"{counts} of {found.values:,} values")]
