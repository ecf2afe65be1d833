"""mask_binary: a 0/255 mask with two classes is almost always a binary mask saved as an
8-bit image: 255 is then the ignore label (the foreground trains nothing) or out of range.
A warning: the fix (divide by 255) is the user's call."""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding, warning
from sanitize.model import Loaded


def check_mask_binary(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    if loaded.mask is None or config.num_classes != 2:
        return []
    values = set(loaded.mask.values)
    if 255 not in values or not values <= {0, 255}:
        return []
    role = "the ignore label, so the foreground trains nothing" if config.mask_ignore_label == 255 else "out of range"
    return [
        warning(
            "mask",
            "binary_255",
            f"a 0/255 mask with 2 classes: 255 is {role}; foreground should be 1 (divide the mask by 255)",
        )
    ]
