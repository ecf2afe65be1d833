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

from sanitize.arrays import CHUNK, as_hwc, stacks
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
    float64, so that a block of finite values near float32's limit stays finite. Above
    MATMUL_MAX_PIXELS, each block's rows and then its columns are added in order (reduceat),
    a slice at a time (_row_sums, and slices of columns whose row sums take at most CHUNK
    values): in one pass, reduceat converted the whole array to float (twice a float32 array's
    size, four times a uint8's) and held 16 row sums of the whole width. A slice continues from
    the sum so far, in the same order, so the means are those of one pass, bit for bit (but for
    the last bit of a block longer than a slice along an axis numpy sums pairwise, as it does a
    one-channel row: no image has such blocks, only arrays of a million values or more a row).
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
    step = max(1, CHUNK // (grid * channels))
    if width <= step:
        sums = np.add.reduceat(_row_sums(array, rows, row_counts, dtype), cols, axis=1)
    else:
        sums = np.empty((grid, grid, channels), dtype=dtype)
        for block, (start, count) in enumerate(zip(cols.tolist(), col_counts.tolist(), strict=True)):
            stop = start + int(count)
            for first in range(start, stop, step):
                part = _row_sums(array[:, first : min(first + step, stop)], rows, row_counts, dtype)
                if first > start:  # continue the block's sum so far, in order
                    part = np.concatenate([sums[:, block, None], part], axis=1)
                sums[:, block] = np.add.reduceat(part, [0], axis=1)[:, 0]
    return sums / row_counts[:, None, None] / col_counts[None, :, None]


def _row_sums(array: np.ndarray, starts: np.ndarray, counts: np.ndarray, dtype: type) -> np.ndarray:
    """np.add.reduceat(array, starts, axis=0, dtype=dtype), converting at most about CHUNK values
    at a time: each block's rows in bands, each band continuing the block's sum so far."""
    height, width, channels = array.shape
    band = max(1, CHUNK // (width * channels))
    if height <= band:
        return np.add.reduceat(array, starts, axis=0, dtype=dtype)
    sums = np.empty((len(starts), width, channels), dtype=dtype)
    buffer = np.empty((band + 1, width, channels), dtype=dtype)  # the sum so far, then a band
    for block, (start, count) in enumerate(zip(starts.tolist(), counts.tolist(), strict=True)):
        stop = start + int(count)
        for top in range(start, stop, band):
            lead, size = int(top > start), min(band, stop - top)
            buffer[0] = sums[block]  # used only after the first band (lead 1)
            buffer[lead : lead + size] = array[top : top + size]
            sums[block] = np.add.reduceat(buffer[: lead + size], [0], axis=0)[0]
    return sums


def default_scale(pixels: np.ndarray) -> float:
    """1/255 for 8-bit data, 1/65535 for wider integers, 1 for floats."""
    if pixels.dtype.kind == "f":
        return 1.0
    return 1.0 / 255 if pixels.dtype.itemsize == 1 else 1.0 / 65535


def _per_channel(values: tuple[float, ...], channels: int) -> np.ndarray:
    return np.asarray(values if len(values) == channels else values[:1] * channels, dtype=np.float32)


def _three_channels(pixels: np.ndarray) -> np.ndarray:
    """The channels the probe reads, as height x width x C: the first three, or the first of an
    image with fewer (gray, gray + alpha), which stands for all three. A small one's (at most
    MATMUL_MAX_PIXELS) is repeated: its block means are matrix products, which BLAS rounds
    differently for one column a pixel than for three. A big one's is a view, averaged once
    (see preprocess): a full-size repeat would triple it."""
    hwc = as_hwc(pixels)
    if hwc.shape[2] >= CHANNELS:
        return hwc[:, :, :CHANNELS]
    single = hwc[:, :, :1]
    return single.repeat(CHANNELS, axis=2) if hwc.shape[0] * hwc.shape[1] <= MATMUL_MAX_PIXELS else single


def _scale_and_mean(pixels: np.ndarray, config: ScanConfig) -> tuple[np.ndarray, np.ndarray]:
    scale = _per_channel(config.probe_scale or (default_scale(pixels),), CHANNELS)
    return scale, _per_channel(config.probe_mean, CHANNELS)


def preprocess(pixels: np.ndarray, config: ScanConfig) -> tuple[np.ndarray, float]:
    """(the flattened grid input, max |x| of the full preprocessed sample). A big gray image's one
    channel is averaged and its grid repeated: never a full-size copy with three channels."""
    hwc = _three_channels(pixels)
    scale, mean = _scale_and_mean(pixels, config)
    means = block_mean(hwc, config.probe_grid)
    with np.errstate(invalid="ignore", over="ignore"):  # beyond float32: inf, as a loader would make it
        grid = np.repeat(means, CHANNELS // means.shape[2], axis=2).astype(np.float32) * scale - mean
        # the extremes over all channels bound every channel's preprocessed extremes
        extremes = np.array([hwc.min(), hwc.max()], dtype=np.float32)[:, None] * scale - mean
        magnitude = float(np.max(np.abs(extremes)))
    return grid.transpose(2, 0, 1).reshape(-1), magnitude


def _preprocess_stacked(arrays: list[np.ndarray], config: ScanConfig) -> list[tuple[np.ndarray, float]]:
    """preprocess() of arrays of one shape and dtype at once: block_mean's two matrix products
    applied to the whole stack, the extremes reduced per sample."""
    stack = np.stack([_three_channels(array) for array in arrays])
    count, height, width, channels = stack.shape
    dtype = np.float64 if stack.dtype.kind == "f" else np.float32
    grid = config.probe_grid
    with np.errstate(invalid="ignore", over="ignore"):
        rows = _pooling(height, grid, dtype) @ stack.reshape(count, height, width * channels).astype(dtype)
        columns = rows.reshape(count, grid, width, channels).transpose(0, 2, 1, 3).reshape(count, width, -1)
        means = (_pooling(width, grid, dtype) @ columns).reshape(count, grid, grid, channels).transpose(0, 2, 1, 3)
    scale, mean = _scale_and_mean(arrays[0], config)
    flat = stack.reshape(count, -1)
    with np.errstate(invalid="ignore", over="ignore"):  # beyond float32: inf, as a loader would make it
        inputs = (means.astype(np.float32) * scale - mean).transpose(0, 3, 1, 2).reshape(count, -1)
        extremes = np.stack([flat.min(axis=1), flat.max(axis=1)], axis=1).astype(np.float32)[:, :, None] * scale - mean
        magnitudes = np.abs(extremes).reshape(count, -1).max(axis=1)
    return [(inputs[i], float(magnitudes[i])) for i in range(count)]


def preprocess_batch(arrays: list[np.ndarray], config: ScanConfig) -> list[tuple[np.ndarray, float] | Exception]:
    """preprocess() of each array, or the ValueError/MemoryError it raised. Small arrays of one shape
    and dtype (most of a dataset) are preprocessed together: per sample, numpy's fixed costs
    outweighed the arithmetic on small images."""
    found: list[tuple[np.ndarray, float] | Exception | None] = [None] * len(arrays)
    groups: dict[tuple, list[int]] = {}
    for position, array in enumerate(arrays):
        groups.setdefault((array.shape, array.dtype.str), []).append(position)
    for members in groups.values():
        first = arrays[members[0]]
        height, width = as_hwc(first).shape[:2]
        if len(members) > 1 and first.ndim <= 3 and height * width <= MATMUL_MAX_PIXELS:
            for run in stacks(members, first):
                for position, done in zip(run, _preprocess_stacked([arrays[i] for i in run], config), strict=True):
                    found[position] = done
            continue
        for position in members:
            try:
                found[position] = preprocess(arrays[position], config)
            except (ValueError, MemoryError) as exc:
                found[position] = exc
    return found  # type: ignore[return-value]


def stable_log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p = z - max(z) - log(sum(exp(z - max(z)))), row-wise: never overflows."""
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
