"""The probe: push every sample through a trivial softmax net, the way training would.

Each sample becomes what a loader would feed a network (float32, times the scale, minus the
mean), is block-averaged to a small fixed grid (sums propagate NaN and Inf; no resampler or
nan-aware reduction hides them), and goes through one fixed-seed linear layer to
`num_classes` logits. The loss is a numerically stable log-softmax. A sample whose logits,
loss or first-step gradient norm are not finite would poison training: it is an error. A sample that a naive float32
softmax (Caffe's SoftmaxWithLoss arithmetic: no max subtraction, then -log(max(p, FLT_MIN)))
would score 87.3365 = -ln(FLT_MIN) is flagged as the cause of that famous stuck loss.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from sanitize.checks.label import parse_label
from sanitize.config import ScanConfig
from sanitize.types import Finding, Loaded, error, warning

CHANNELS = 3
FLT_MIN = np.finfo(np.float32).tiny
#: The loss Caffe reports when a probability underflows to 0 and is clamped to FLT_MIN.
CAFFE_STUCK_LOSS = float(-np.log(np.float64(FLT_MIN)))
#: A sample is a scale outlier when its magnitude is this many times above the dataset median
#: (in log space, and beyond 5 robust deviations): a 16-bit image among 8-bit ones is 257x.
OUTLIER_FACTOR = 16.0
#: Below the median only a much larger factor counts (a [0,1] image among [0,255] ones is 255x),
#: so that dark images are not flagged; an all-zero image has no scale at all and never is.
LOW_OUTLIER_FACTOR = 128.0

ProbeResult = tuple[float | None, float | None, list[Finding]]


@lru_cache(maxsize=8)
def weights(grid: int, num_classes: int, seed: int) -> np.ndarray:
    """The fixed-seed He-initialised linear layer, built once per worker process."""
    fan_in = CHANNELS * grid * grid
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((fan_in, num_classes)) * math.sqrt(2.0 / fan_in)).astype(np.float32)


def as_hwc(array: np.ndarray) -> np.ndarray:
    """Any pixel or .npy array as height x width x channels (CHW arrays are transposed)."""
    if array.ndim <= 1:
        return array.reshape(1, -1, 1)
    if array.ndim == 2:
        return array[:, :, None]
    if array.ndim > 3:
        array = array.reshape(-1, *array.shape[-2:])
    if array.shape[0] <= 4 < array.shape[2]:
        return array.transpose(1, 2, 0)
    return array


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


def naive_softmax_loss(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Caffe's float32 arithmetic without the max shift: p = exp(z)/sum(exp(z)), then
    -log(max(p[label], FLT_MIN)). exp overflows to inf for z > ~88.7, and inf/inf or
    finite/inf turns into NaN or 0, which the clamp reports as 87.3365."""
    z = logits.astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        e = np.exp(z)
        p = e / e.sum(axis=-1, keepdims=True)
        picked = p[np.arange(len(labels)), labels]
        return -np.log(np.maximum(picked, FLT_MIN))


def run_probe(batch: list[Loaded], config: ScanConfig) -> list[ProbeResult]:
    """(magnitude, loss, findings) per sample, with one matrix multiply for the whole batch."""
    results: list[ProbeResult] = [(None, None, []) for _ in batch]
    if not config.probe:
        return results
    rows, inputs, magnitudes, labels = [], [], [], []
    for row, loaded in enumerate(batch):
        if loaded.pixels is None:
            continue
        try:
            flat, magnitude = preprocess(loaded.pixels, config)
        except (ValueError, MemoryError) as exc:
            results[row] = (None, None, [error("probe", "unusable_input", f"cannot form a probe input: {exc}")])
            continue
        rows.append(row)
        inputs.append(flat)
        magnitudes.append(magnitude)
        labels.append(parse_label(loaded.sample.label, config)[0])
    if not rows:
        return results
    with np.errstate(invalid="ignore", over="ignore"):
        logits = np.stack(inputs) @ weights(config.probe_grid, config.num_classes, config.probe_seed)
    log_p = stable_log_softmax(logits)
    has_label = np.array([label is not None for label in labels])
    label_idx = np.array([0 if label is None else label for label in labels])  # 0: a placeholder, unused
    stable = -log_p[np.arange(len(rows)), label_idx]
    naive = naive_softmax_loss(logits, label_idx)
    grad_sq = gradient_norm_sq(np.stack(inputs), log_p, label_idx) * has_label
    for i, row in enumerate(rows):
        loss = float(stable[i]) if has_label[i] else None
        findings: list[Finding] = []
        if not (np.isfinite(logits[i]).all() and np.isfinite(stable[i]) and np.isfinite(grad_sq[i])):
            findings.append(
                error(
                    "probe",
                    "nonfinite_loss",
                    f"loss {loss if loss is not None else 'n/a'}, squared gradient norm {grad_sq[i]:.4g};"
                    f" max |input| {magnitudes[i]:.4g}, max |logit| {float(np.max(np.abs(logits[i]))):.4g}",
                )
            )
            loss = None
        elif loss is not None and not naive[i] < CAFFE_STUCK_LOSS * (1 - 1e-6):
            findings.append(
                warning(
                    "probe",
                    "softmax_saturation",
                    f"a naive float32 softmax gives loss {float(naive[i]):.6g} (Caffe's stuck"
                    f" 87.3365) where the stable loss is {loss:.4g}; max |input| {magnitudes[i]:.4g}",
                )
            )
        results[row] = (magnitudes[i], loss, findings)
    return results


def gradient_norm_sq(inputs: np.ndarray, log_p: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per sample, the float32 squared norm of the loss gradient w.r.t. the layer's weights,
    ||x||^2 * ||softmax - onehot||^2: what gradient clipping computes on the first step. An
    input whose values are finite but near float32's limit overflows here even when the
    stable loss does not."""
    with np.errstate(invalid="ignore", over="ignore"):
        residual = np.exp(log_p)
        residual[np.arange(len(labels)), labels] -= 1
        return np.square(inputs).sum(axis=1, dtype=np.float32) * np.square(residual).sum(axis=1, dtype=np.float32)


def scale_outliers(magnitudes: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(mask of outliers, median magnitude, allowed factor) over the dataset's magnitudes.

    Robust: median and MAD of log10 magnitudes, so one 16-bit image among a million 8-bit
    ones cannot move the reference. Needs at least 8 finite magnitudes.
    """
    scaled = np.isfinite(magnitudes) & (magnitudes > 0)
    mask = np.zeros(len(magnitudes), dtype=bool)
    if scaled.sum() < 8:
        return mask, float("nan"), float("nan")
    logs = np.log10(magnitudes[scaled])
    median = float(np.median(logs))
    spread = 5 * float(np.median(np.abs(logs - median))) * 1.4826
    above = max(spread, math.log10(OUTLIER_FACTOR))
    below = max(spread, math.log10(LOW_OUTLIER_FACTOR))
    mask[scaled] = (logs - median > above) | (median - logs > below)
    return mask, 10**median, 10**above
