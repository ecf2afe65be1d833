"""The probe's network, shared by the classification and segmentation probes.

Each sample becomes what a loader would feed a network (float32, times the scale, minus the
mean) and is block-averaged to a small fixed grid: sums propagate NaN and Inf, so no resampler
or nan-aware reduction can hide them. One fixed-seed He-initialised linear layer gives the
logits, and the loss is a numerically stable log-softmax.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from sanitize.arrays import as_hwc
from sanitize.config import ScanConfig
from sanitize.findings import Finding

CHANNELS = 3
#: What a probe gives each sample: (max |input|, loss, findings); None where there is none.
ProbeResult = tuple[float | None, float | None, list[Finding]]


@lru_cache(maxsize=8)
def weights(grid: int, num_classes: int, seed: int) -> np.ndarray:
    """The fixed-seed He-initialised linear layer, built once per worker process."""
    fan_in = CHANNELS * grid * grid
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((fan_in, num_classes)) * math.sqrt(2.0 / fan_in)).astype(np.float32)


#: Up to this many pixels, block means are two small matrix products (fast for the ~63x47
#: DCT-downscaled JPEGs); above it, two reduceat passes (linear in the pixel count).
MATMUL_MAX_PIXELS = 65_536


@lru_cache(maxsize=256)
def _blocks(n: int, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Start index and size of each of `grid` near-equal blocks over n (size >= 1)."""
    starts = np.linspace(0, n, grid + 1).astype(np.int64)[:-1]
    counts = np.diff(np.append(starts, n)).clip(min=1).astype(np.float64)
    return starts, counts


@lru_cache(maxsize=256)
def _pooling(n: int, grid: int, dtype: type) -> np.ndarray:
    """grid x n matrix whose product with a length-n axis gives the block means."""
    starts, counts = _blocks(n, grid)
    matrix = np.zeros((grid, n), dtype=dtype)
    for row, (start, count) in enumerate(zip(starts, counts, strict=True)):
        matrix[row, start : start + int(count)] = 1.0 / count
    return matrix


def block_mean(array: np.ndarray, grid: int) -> np.ndarray:
    """Average an HWC array to grid x grid x C; NaN and Inf propagate (never hidden).

    Integer data is averaged in float32 (exact enough, cannot overflow); float data in
    float64, so that a block of finite values near float32's limit stays finite.
    """
    height, width, channels = array.shape
    dtype = np.float64 if array.dtype.kind == "f" else np.float32
    if height * width <= MATMUL_MAX_PIXELS:
        with np.errstate(invalid="ignore", over="ignore"):
            rows = _pooling(height, grid, dtype) @ array.reshape(height, width * channels).astype(dtype)
            cols = _pooling(width, grid, dtype) @ rows.reshape(grid, width, channels).transpose(1, 0, 2).reshape(
                width, grid * channels
            )
        return cols.reshape(grid, grid, channels).transpose(1, 0, 2)
    rows, row_counts = _blocks(height, grid)
    cols, col_counts = _blocks(width, grid)
    sums = np.add.reduceat(np.add.reduceat(array, rows, axis=0, dtype=dtype), cols, axis=1)
    return sums / row_counts[:, None, None] / col_counts[None, :, None]


def default_scale(pixels: np.ndarray) -> float:
    """1/255 for 8-bit data, 1/65535 for wider integers, 1 for floats."""
    if pixels.dtype.kind == "f":
        return 1.0
    return 1.0 / 255 if pixels.dtype.itemsize == 1 else 1.0 / 65535


def _per_channel(values: tuple[float, ...], channels: int) -> np.ndarray:
    return np.asarray(values if len(values) == channels else values[:1] * channels, dtype=np.float32)


def preprocess(pixels: np.ndarray, config: ScanConfig) -> tuple[np.ndarray, float]:
    """(the flattened grid input, max |x| of the full preprocessed sample)."""
    hwc = as_hwc(pixels)
    if hwc.shape[2] < CHANNELS:
        hwc = hwc[:, :, :1].repeat(CHANNELS, axis=2)
    hwc = hwc[:, :, :CHANNELS]
    scale = _per_channel(config.probe_scale or (default_scale(pixels),), CHANNELS)
    mean = _per_channel(config.probe_mean, CHANNELS)
    grid = block_mean(hwc, config.probe_grid).astype(np.float32) * scale - mean
    with np.errstate(invalid="ignore", over="ignore"):
        # the extremes over all channels bound every channel's preprocessed extremes
        extremes = np.array([hwc.min(), hwc.max()], dtype=np.float32)[:, None] * scale - mean
        magnitude = float(np.max(np.abs(extremes)))
    return grid.transpose(2, 0, 1).reshape(-1), magnitude


def stable_log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p = z - max(z) - log(sum(exp(z - max(z)))), row-wise: never overflows."""
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
