"""The finite check: NaN and Inf counted in float data; integer images cost nothing."""

from __future__ import annotations

import io

import numpy as np

from sanitize.checks.finite import check_finite
from tests.conftest import float_tiff_bytes, png_bytes


def test_float_tiff_with_nan_and_inf(load_bytes, config):
    array = np.ones((4, 4), np.float32)
    array[0, 0] = np.nan
    array[1, 1] = np.inf
    array[2, 2] = -np.inf
    array[3, 3] = np.nan
    (finding,) = check_finite(load_bytes(float_tiff_bytes(array), "f.tif"), config)
    assert (finding.code, finding.severity.value) == ("nonfinite", "error")
    assert finding.message == "2 NaN, 1 +Inf, 1 -Inf of 16 values"


def test_npy_with_nan(load_bytes, config):
    buffer = io.BytesIO()
    array = np.zeros((3, 8, 8), np.float64)
    array[1, 2, 3] = np.nan
    np.save(buffer, array)
    (finding,) = check_finite(load_bytes(buffer.getvalue(), "a.npy"), config)
    assert finding.message.startswith("1 NaN of 192")


def test_finite_float_data_passes(load_bytes, config):
    assert check_finite(load_bytes(float_tiff_bytes(np.full((3, 3), 3e38)), "big.tif"), config) == []


def test_integer_images_have_no_float_values_counted(load_bytes, config):
    loaded = load_bytes(png_bytes(), "a.png")
    assert loaded.nonfinite is None
    assert check_finite(loaded, config) == []
