"""mask_size: a mask must have its image's height and width, or pixels get the wrong class
(or the loss refuses the batch)."""

from __future__ import annotations

from sanitize.arrays import as_hwc
from sanitize.config import ScanConfig
from sanitize.findings import Finding, error
from sanitize.model import Loaded


def image_size(loaded: Loaded) -> tuple[int, int] | None:
    """(height, width) of the decoded image at full resolution, None when it did not decode."""
    if loaded.info.width is not None and loaded.info.height is not None:
        return loaded.info.height, loaded.info.width
    if loaded.pixels is not None:
        return as_hwc(loaded.pixels).shape[:2]
    return None


def check_mask_size(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    if loaded.mask is None or loaded.mask.index_map is None:
        return []
    size = image_size(loaded)
    mask_size = loaded.mask.index_map.shape[:2]
    if size is None or tuple(size) == tuple(mask_size):
        return []
    return [
        error("mask", "size_mismatch", f"mask is {mask_size[1]}x{mask_size[0]}, the image {size[1]}x{size[0]} (WxH)")
    ]
