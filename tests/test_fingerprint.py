"""load.fingerprint's shortcuts give exactly what the plain numpy calls give."""

from __future__ import annotations

import numpy as np
import pytest

from sanitize.load.fingerprint import _medians

RNG = np.random.default_rng(0)
ODD = RNG.normal(size=(40, 63)) * 1e3


def _with(rows: np.ndarray, value: float, at: tuple[int, int] = (0, 5)) -> np.ndarray:
    rows = rows.copy()
    rows[at] = value
    return rows


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(ODD, id="odd rows (the hash's 63 coefficients)"),
        pytest.param(np.round(ODD / 300), id="ties"),
        pytest.param(_with(ODD, np.inf), id="an infinity"),
        pytest.param(_with(_with(ODD, -np.inf), np.inf, (1, 2)), id="both infinities"),
        pytest.param(_with(ODD, np.nan), id="a NaN: np.median's own NaN"),
        pytest.param(RNG.normal(size=(7, 64)), id="even rows"),
        pytest.param(RNG.normal(size=(3, 1)), id="one column"),
    ],
)
def test_medians_are_np_medians(rows):
    assert np.array_equal(_medians(rows), np.median(rows, axis=1), equal_nan=True)
