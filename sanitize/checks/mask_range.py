"""mask_range: every mask pixel is a class index in [0, num_classes) or the ignore label.

Anything else is an out-of-bounds index in the loss: CUDA's `t >= 0 && t < n_classes`
assert, or garbage read silently on the CPU. The message names the values and their counts.
"""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding, error
from sanitize.model import Loaded

#: How many offending values a message names.
SHOWN_VALUES = 8


def out_of_range(values: dict[int, int], config: ScanConfig) -> dict[int, int]:
    """The values (with pixel counts) that are neither a class nor the ignore label."""
    ignore = config.mask_ignore_label
    return {v: n for v, n in values.items() if v != ignore and not 0 <= v < config.num_classes}


def check_mask_range(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    if loaded.mask is None:
        return []
    bad = out_of_range(loaded.mask.values, config)
    if not bad:
        return []
    worst = sorted(bad.items(), key=lambda kv: (-kv[1], kv[0]))[:SHOWN_VALUES]
    shown = ", ".join(f"{value}: {count:,} px" for value, count in worst)
    more = f" and {len(bad) - len(worst)} more value(s)" if len(bad) > len(worst) else ""
    return [
        error(
            "mask",
            "out_of_range",
            f"{sum(bad.values()):,} pixels outside [0, {config.num_classes}) and not the ignore label"
            f" {config.mask_ignore_label}: {shown}{more}",
        )
    ]
