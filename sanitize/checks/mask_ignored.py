"""mask_ignored: a mask whose every pixel is the ignore label trains nothing, and under
`valid` normalisation (PyTorch's mean cross-entropy; Caffe's VALID without its max(1, n)
guard) its loss is 0/0 = NaN, which poisons the whole batch. An error there, a warning under
the other normalisations, where the loss is merely 0."""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding, error, warning
from sanitize.model import Loaded


def check_mask_ignored(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    if loaded.mask is None or set(loaded.mask.values) != {config.mask_ignore_label}:
        return []
    if config.normalization == "valid":
        return [
            error(
                "mask",
                "all_ignored",
                f"every pixel is the ignore label {config.mask_ignore_label}: with valid normalisation the"
                " loss is 0/0 = NaN",
            )
        ]
    return [
        warning(
            "mask",
            "all_ignored",
            f"every pixel is the ignore label {config.mask_ignore_label}: the sample trains nothing"
            f" ({config.normalization} normalisation: loss 0)",
        )
    ]
