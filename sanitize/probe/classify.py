"""The classification probe: push every sample through a trivial softmax net, the way training would.

The net is probe.net's: the loader's input block-averaged to a small grid, one fixed-seed linear
layer to `num_classes` logits, a numerically stable log-softmax loss. A sample whose logits, loss
or first-step gradient norm are not finite would poison training: it is an error. A sample that a
naive float32 softmax (Caffe's SoftmaxWithLoss arithmetic: no max subtraction, then -log(max(p, FLT_MIN)))
would score 87.3365 = -ln(FLT_MIN) is flagged as the cause of that famous stuck loss.
"""

from __future__ import annotations

import numpy as np

from sanitize.config import ScanConfig
from sanitize.findings import Finding, error, warning
from sanitize.labels import parse_label
from sanitize.model import Loaded
from sanitize.probe.net import ProbeResult, preprocess_batch, stable_log_softmax, weights

FLT_MIN = np.finfo(np.float32).tiny
#: The loss Caffe reports when a probability underflows to 0 and is clamped to FLT_MIN.
CAFFE_STUCK_LOSS = float(-np.log(np.float64(FLT_MIN)))


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
    present = [row for row, loaded in enumerate(batch) if loaded.pixels is not None]
    prepared = preprocess_batch([batch[row].pixels for row in present], config)
    for row, done in zip(present, prepared, strict=True):
        loaded = batch[row]
        if isinstance(done, Exception):
            results[row] = (None, None, [error("probe", "unusable_input", f"cannot form a probe input: {done}")])
            continue
        flat, magnitude = done
        rows.append(row)
        inputs.append(flat)
        magnitudes.append(magnitude)
        labels.append(parse_label(loaded.sample.label, config)[0])
    if not rows:
        return results
    with np.errstate(invalid="ignore", over="ignore"):
        stacked = np.stack(inputs)
        logits = stacked @ weights(config.probe_grid, config.num_classes, config.probe_seed)
    log_p = stable_log_softmax(logits)
    has_label = np.array([label is not None for label in labels])
    label_idx = np.array([0 if label is None else label for label in labels])  # 0: a placeholder, unused
    stable = -log_p[np.arange(len(rows)), label_idx]
    naive = naive_softmax_loss(logits, label_idx)
    grad_sq = gradient_norm_sq(stacked, log_p, label_idx) * has_label
    # judged as whole columns: per sample, numpy's scalar calls cost more than the probe's arithmetic
    finite = (np.isfinite(logits).all(axis=1) & np.isfinite(stable) & np.isfinite(grad_sq)).tolist()
    saturated = (has_label & ~(naive < CAFFE_STUCK_LOSS * (1 - 1e-6))).tolist()
    for i, (row, labelled, loss) in enumerate(zip(rows, has_label.tolist(), stable.tolist(), strict=True)):
        loss = loss if labelled else None
        findings: list[Finding] = []
        if not finite[i]:
            findings.append(
                error(
                    "probe",
                    "nonfinite_loss",
                    f"loss {loss if loss is not None else 'n/a'}, squared gradient norm {grad_sq[i]:.4g};"
                    f" max |input| {magnitudes[i]:.4g}, max |logit| {float(np.max(np.abs(logits[i]))):.4g}",
                )
            )
            loss = None
        elif saturated[i]:
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
