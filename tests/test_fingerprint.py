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


@pytest.mark.parametrize("shape", [(32, 32), (32, 64), (64, 32), (8, 8)])
def test_a_side_of_the_grid_is_hashed_as_its_own_grid(shape):
    """An image doubled in both directions averages back to itself: its hash is the same whether a
    side skips the averaging product (a side of GRID) or goes through it (the doubled side)."""
    from sanitize.load.fingerprint import perceptual_hashes

    pixels = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    doubled = pixels.repeat(2, axis=0).repeat(2, axis=1)
    small, large = perceptual_hashes([pixels, doubled])
    assert small == large != 0


def test_images_hashed_together_in_runs_hash_as_each_alone():
    from sanitize.load.fingerprint import perceptual_hash, perceptual_hashes

    rng = np.random.default_rng(1)
    arrays = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(200)]  # three runs
    assert perceptual_hashes(arrays) == [perceptual_hash(array) for array in arrays]


def test_float_data_that_overflows_has_no_hash_and_no_warning():
    """Finite values near float64's limit overflow in the grey sum or the DCT: no hash (as for
    non-finite data), no numpy warning in a worker's log, and the other images of the stack as
    each alone."""
    import warnings

    from sanitize.load.fingerprint import perceptual_hash, perceptual_hashes

    rng = np.random.default_rng(2)
    huge = [rng.random((40, 40)) * 1.7e308, np.where(rng.random((40, 40)) < 0.5, 1.7e308, -1.7e308)]
    normal = rng.random((40, 40))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert perceptual_hashes([*huge, normal]) == [0, 0, perceptual_hash(normal)] != [0, 0, 0]
