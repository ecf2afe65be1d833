"""The probe: stable softmax loss, the 87.3365 trap, overflow and scale outliers."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest

from sanitize.checks.scale_outlier import reference
from sanitize.config import ScanConfig
from sanitize.probe.classify import (
    CAFFE_STUCK_LOSS,
    naive_softmax_loss,
    run_probe,
)
from sanitize.probe.net import block_mean, preprocess, preprocess_batch, stable_log_softmax
from tests.conftest import float_tiff_bytes, jpeg_bytes, png_bytes


def scale_outliers(magnitudes: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(mask of outliers, median magnitude, allowed factor), as the check judges a dataset."""
    found = reference(lambda: [magnitudes])
    if found is None:
        return np.zeros(len(magnitudes), dtype=bool), float("nan"), float("nan")
    return found.outliers(magnitudes), 10**found.median, 10**found.above


def _probe(loaded_list, config):
    return run_probe(loaded_list, config)


def test_caffe_stuck_loss_is_minus_ln_flt_min():
    assert pytest.approx(87.3365, abs=1e-4) == CAFFE_STUCK_LOSS


def test_naive_softmax_reproduces_87_3365():
    logits = np.array([[100.0, 20.0]], np.float32)
    assert naive_softmax_loss(logits, np.array([1]))[0] == pytest.approx(87.3365, abs=1e-4)
    stable = -stable_log_softmax(logits)[0, 1]
    assert stable == pytest.approx(80.0, rel=1e-6)


def test_stable_log_softmax_matches_float64_reference():
    rng = np.random.default_rng(1)
    logits = rng.uniform(-1e4, 1e4, size=(64, 10)).astype(np.float32)
    reference = logits.astype(np.float64)
    reference = reference - reference.max(axis=1, keepdims=True)
    reference = reference - np.log(np.exp(reference).sum(axis=1, keepdims=True))
    got = stable_log_softmax(logits)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-2)


def test_block_mean_of_tiny_images():
    assert block_mean(np.arange(6.0).reshape(2, 3, 1), 16).shape == (16, 16, 1)


def test_ordinary_images_have_losses_near_ln_num_classes(load_bytes):
    config = ScanConfig(num_classes=10)
    batch = [load_bytes(jpeg_bytes(seed=i), f"{i}.jpg", label=str(i), cfg=config) for i in range(8)]
    results = run_probe(batch, config)
    losses = [loss for _, loss, findings in results if not findings]
    assert len(losses) == 8
    assert abs(np.mean(losses) - math.log(10)) < 1.5
    assert all(0.5 < m <= 1.0 for m, _, _ in results)


def test_huge_finite_float_tiff_and_npy_are_caught_by_the_probe_only(load_bytes, config):
    from sanitize.checks.finite import check_finite

    buffer = io.BytesIO()
    np.save(buffer, np.full((32, 32), 2e38, np.float32))
    batch = [
        load_bytes(float_tiff_bytes(np.full((32, 32), 3e38)), "huge.tif"),
        load_bytes(buffer.getvalue(), "huge.npy"),
    ]
    for loaded in batch:
        assert check_finite(loaded, config) == []
        assert loaded.findings == []
    for magnitude, loss, findings in run_probe(batch, config):
        assert [f.code for f in findings] == ["nonfinite_loss"]
        assert loss is None
        assert magnitude >= 1.9e38
        assert "max |input|" in findings[0].message and "max |logit|" in findings[0].message


def test_nan_input_has_a_nonfinite_loss(load_bytes, config):
    array = np.zeros((8, 8), np.float32)
    array[0, 0] = np.nan
    ((_, loss, findings),) = run_probe([load_bytes(float_tiff_bytes(array), "nan.tif")], config)
    assert [f.code for f in findings] == ["nonfinite_loss"]
    assert loss is None


def test_ignore_label_samples_skip_the_loss_but_still_go_through_the_net(load_bytes):
    config = ScanConfig(num_classes=3, ignore_label=255)
    ok = load_bytes(png_bytes(), "ok.png", label="255", cfg=config)
    bad = load_bytes(float_tiff_bytes(np.full((8, 8), np.inf)), "inf.tif", label="255", cfg=config)
    (m1, loss1, f1), (_, loss2, f2) = run_probe([ok, bad], config)
    assert (loss1, f1) == (None, [])
    assert m1 is not None
    assert [f.code for f in f2] == ["nonfinite_loss"]
    assert loss2 is None


def test_saturating_sample_is_flagged_as_the_87_trap(load_bytes):
    """Large but representable inputs: the stable loss is finite, the naive one sticks at 87.3365."""
    config = ScanConfig(num_classes=4, probe_scale=(1.0,))
    flagged = []
    for seed in range(20):
        array = np.random.default_rng(seed).uniform(-1, 1, (16, 16)).astype(np.float32) * 5000
        loaded = load_bytes(float_tiff_bytes(array), f"s{seed}.tif", label=str(seed % 4), cfg=config)
        ((_, loss, findings),) = run_probe([loaded], config)
        if findings:
            assert [f.code for f in findings] == ["softmax_saturation"]
            assert math.isfinite(loss)
            assert "87.3365" in findings[0].message
            flagged.append(seed)
    assert flagged


def test_probe_can_be_switched_off(load_bytes):
    config = ScanConfig(num_classes=3, probe=False)
    loaded = load_bytes(float_tiff_bytes(np.full((4, 4), np.nan)), "nan.tif", cfg=config)
    assert run_probe([loaded], config) == [(None, None, [])]


def test_16_bit_png_read_at_8_bit_scale_is_a_scale_outlier(load_bytes):
    config = ScanConfig(num_classes=3, probe_scale=(1 / 255,))
    batch = [load_bytes(jpeg_bytes(seed=i), f"{i}.jpg", cfg=config) for i in range(30)]
    deep = np.full((32, 32), 65000, np.uint16)
    batch.append(load_bytes(png_bytes(deep), "deep.png", cfg=config))
    magnitudes = np.array([m for m, _, _ in run_probe(batch, config)])
    mask, median, factor = scale_outliers(magnitudes)
    assert np.flatnonzero(mask).tolist() == [30]
    assert 0.5 < median <= 1.0
    assert factor >= 16


def test_float_0_255_image_among_0_1_images_is_a_scale_outlier():
    magnitudes = np.array([1.0, 0.98, 0.95, 1.0, 0.9, 0.99, 1.0, 0.97, 0.93, 255.0])
    mask, _, _ = scale_outliers(magnitudes)
    assert np.flatnonzero(mask).tolist() == [9]


def test_dark_image_is_not_a_scale_outlier():
    mask, _, _ = scale_outliers(np.array([1.0] * 20 + [0.3]))
    assert not mask.any()


@pytest.mark.parametrize("shape", [(47, 63, 3), (300, 400, 1)], ids=["matmul", "reduceat"])
def test_block_mean_is_the_exact_block_average(shape):
    array = np.random.default_rng(0).integers(0, 255, shape).astype(np.uint8)
    grid = block_mean(array, 16)
    rows = np.linspace(0, shape[0], 17).astype(int)
    cols = np.linspace(0, shape[1], 17).astype(int)
    expected = np.array(
        [[array[rows[i] : rows[i + 1], cols[j] : cols[j + 1]].mean(axis=(0, 1)) for j in range(16)] for i in range(16)]
    )
    np.testing.assert_allclose(grid, expected, rtol=1e-5)


@pytest.mark.parametrize("shape", [(40, 40, 1), (300, 300, 1)], ids=["matmul", "reduceat"])
def test_block_mean_never_hides_nan_or_inf(shape):
    array = np.ones(shape, np.float32)
    array[3, 3, 0] = np.nan
    array[-1, -1, 0] = np.inf
    grid = block_mean(array, 16)
    assert np.isnan(grid[0, 0, 0])
    assert not np.isfinite(grid[15, 15, 0])


def test_block_mean_of_huge_finite_floats_stays_finite():
    assert np.isfinite(block_mean(np.full((40, 40, 1), 3e38, np.float32), 16)).all()


def test_black_and_dark_images_are_not_scale_outliers_but_a_0_1_image_among_0_255_is():
    typical = [255.0, 250.0, 240.0, 255.0, 230.0, 255.0, 248.0, 255.0, 251.0, 255.0]
    mask, _, _ = scale_outliers(np.array([*typical, 0.0, 7.0, 1.0]))
    assert np.flatnonzero(mask).tolist() == [12]  # all-black (0) and dark (7) pass; max 1.0 is 255x off


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
        lambda rng: rng.integers(0, 256, (8, 8), dtype=np.uint8),  # gray: repeated to 3 channels
        lambda rng: rng.integers(0, 256, (20, 24, 4), dtype=np.uint8),  # RGBA: alpha dropped
        lambda rng: rng.integers(0, 65536, (16, 16), dtype=np.uint16),
        lambda rng: rng.standard_normal((3, 17, 19)).astype(np.float32),  # a CHW .npy
        lambda rng: np.where(rng.random((9, 9)) < 0.1, np.nan, rng.random((9, 9))).astype(np.float64),
    ],
)
def test_a_batch_preprocessed_together_is_bit_for_bit_each_preprocessed_alone(make):
    rng = np.random.default_rng(0)
    arrays = [make(rng) for _ in range(200)]  # 32x32x3 ones are stacked in runs (arrays.stacks): three
    config = ScanConfig(num_classes=3, probe_mean=(0.1, 0.2, 0.3))
    together = preprocess_batch(arrays, config)
    for array, (inputs, magnitude) in zip(arrays, together, strict=True):
        alone_inputs, alone_magnitude = preprocess(array, config)
        assert np.array_equal(inputs, alone_inputs, equal_nan=True)
        assert magnitude == alone_magnitude or (np.isnan(magnitude) and np.isnan(alone_magnitude))


@pytest.mark.parametrize("count", [1, 3])  # preprocessed alone, and stacked with its like
def test_values_beyond_float32_become_inf_without_a_warning(count):
    """A float64 array beyond float32's range is inf to a float32 loader, and the probe says so in its
    finding: numpy's overflow warning would only be noise in every worker's log."""
    arrays = [np.full((8, 8), 1e300, dtype=np.float64) for _ in range(count)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = preprocess_batch(arrays, ScanConfig(num_classes=2))
    assert all(np.isinf(inputs).all() and magnitude == np.inf for inputs, magnitude in results)
