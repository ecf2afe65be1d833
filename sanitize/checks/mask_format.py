"""mask_format: a segmentation sample needs a mask, and a mask must be stored losslessly.

JPEG is lossy: the codec blurs every class edge into values between the classes (and beyond
the class count), so a JPEG mask is an error even when its values happen to be in range.
"""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding, error
from sanitize.model import Loaded


def check_mask_format(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    if config.task != "segmentation":
        return []
    if loaded.sample.mask is None:
        return [error("mask", "missing", "no mask for this image")]
    if loaded.mask is not None and loaded.mask.info.format == "JPEG":
        return [
            error(
                "mask",
                "lossy",
                "the mask is a JPEG: lossy compression puts stray values on every class edge; store masks as PNG",
            )
        ]
    return []
