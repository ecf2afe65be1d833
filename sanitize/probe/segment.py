"""The probe for segmentation: a per-pixel softmax loss, the way a segmentation net's loss is.

The image is preprocessed and block-averaged to the probe grid exactly as for classification
(probe.net.preprocess); a fixed-seed 1x1 convolution (a per-pixel linear layer, 3 -> num_classes)
turns each grid cell into logits, and the logits are nearest-upsampled to the mask's full
resolution, as an FCN upsamples its output. So every mask pixel counts: the loss is summed
over all pixels whose label is a class (ignore-label and out-of-range pixels are skipped, as
the loss skips the ignore label; out-of-range values are the range check's error), with a
bincount over (grid cell, class), a slice of rows at a time, never a full-resolution logit map.

The sum is divided as `--normalization` says (Caffe's NormalizationMode): `valid` by the
counted pixels (PyTorch's mean; an all-ignored mask gives 0/0 = NaN), `full` by all pixels,
`batch_size` by 1 (one sample), `none` not at all. A non-finite loss is an error, as for
classification.
"""

from __future__ import annotations

import numpy as np

from sanitize.arrays import CHUNK
from sanitize.config import ScanConfig
from sanitize.findings import error
from sanitize.model import Loaded
from sanitize.probe.net import CHANNELS, ProbeResult, preprocess, stable_log_softmax, weights


def _denominator(valid_pixels: int, all_pixels: int, normalization: str) -> float:
    return {"valid": valid_pixels, "full": all_pixels}.get(normalization, 1)


def pixel_loss(grid_input: np.ndarray, index_map: np.ndarray, config: ScanConfig) -> tuple[np.ndarray, float, int]:
    """(the grid's logits, the normalised per-pixel loss, the number of pixels it counted)."""
    grid, classes = config.probe_grid, config.num_classes
    cells = grid_input.reshape(CHANNELS, grid * grid).T
    with np.errstate(invalid="ignore", over="ignore"):
        logits = cells @ weights(1, classes, config.probe_seed)
    log_p = stable_log_softmax(logits)
    height, width = index_map.shape
    column_cell = np.arange(width) * grid // width
    pairs = np.zeros(grid * grid * classes, dtype=np.int64)
    valid = 0
    step = max(1, CHUNK // width)  # rows a slice: its int64 temporaries stay a few MiB, whatever the mask's size
    for top in range(0, height, step):
        labels = index_map[top : top + step].astype(np.int64, copy=False)
        cell = (np.arange(top, top + len(labels)) * grid // height)[:, None] * grid + column_cell[None, :]
        counted = (labels >= 0) & (labels < classes)
        pairs += np.bincount(cell[counted] * classes + labels[counted], minlength=grid * grid * classes)
        valid += int(counted.sum())
    used = pairs > 0
    total = -float((pairs[used] * log_p.reshape(-1)[used]).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = float(np.float64(total) / np.float64(_denominator(valid, height * width, config.normalization)))
    return logits, loss, valid


def _probe_one(loaded: Loaded, config: ScanConfig) -> ProbeResult:
    try:
        grid_input, magnitude = preprocess(loaded.pixels, config)
    except (ValueError, MemoryError) as exc:
        return None, None, [error("probe", "unusable_input", f"cannot form a probe input: {exc}")]
    index_map = loaded.mask.index_map
    logits, loss, valid = pixel_loss(grid_input, index_map, config)
    if np.isfinite(logits).all() and np.isfinite(loss):
        return magnitude, loss, []
    return (
        magnitude,
        None,
        [
            error(
                "probe",
                "nonfinite_loss",
                f"per-pixel loss {loss} ({config.normalization} normalisation, {valid:,} of {index_map.size:,} pixels"
                f" counted); max |input| {magnitude:.4g}, max |logit| {float(np.max(np.abs(logits))):.4g}",
            )
        ],
    )


def run_pixel_probe(batch: list[Loaded], config: ScanConfig) -> list[ProbeResult]:
    """(magnitude, loss, findings) per sample; samples without an image or index map are skipped."""
    return [
        _probe_one(loaded, config)
        if config.probe and loaded.pixels is not None and loaded.mask is not None and loaded.mask.index_map is not None
        else (None, None, [])
        for loaded in batch
    ]
