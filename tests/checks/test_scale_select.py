"""The scale check's median without holding the magnitudes: a selection over chunks read again
and again, np.median's value bit for bit (ties, even counts, negative logs, one value), in memory
that does not grow with the count."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from sanitize.checks import scale_outlier
from sanitize.checks.scale_outlier import kth_smallest, median, reference

_RNG = np.random.default_rng(0)
CASES = {
    "odd, spread": _RNG.lognormal(0, 2, 10_001),
    "even, spread": _RNG.normal(0, 1, 10_000),
    "all equal": np.full(5000, 0.75),
    "ties, even": np.round(_RNG.normal(-1, 0.01, 8000), 3),
    "one value": np.array([-2.5]),
    "zeros of both signs": np.array([0.0, -0.0, 0.0, -0.0, 1e-300, -1e-300]),
    "huge and tiny": np.array([1e308, -1e308, 5e-324, 3.0, np.inf, -np.inf, 2.0]),
}


def _chunks(values: np.ndarray, size: int = 777):
    return lambda: (values[start : start + size] for start in range(0, len(values), size))


@pytest.mark.parametrize("gather", [1 << 16, 1], ids=["gathered", "all 64 bits"])
@pytest.mark.parametrize("name", list(CASES))
def test_the_median_of_chunks_is_np_median_bit_for_bit(monkeypatch, name, gather):
    monkeypatch.setattr(scale_outlier, "GATHER", gather)
    values = CASES[name]
    assert median(_chunks(values), len(values)) == np.median(values)
    for k in {0, len(values) // 3, len(values) - 1}:
        assert kth_smallest(_chunks(values), k) == np.partition(values, k)[k]


def test_the_reference_of_a_million_magnitudes_holds_chunks_not_the_magnitudes():
    """The magnitudes come 65,536 at a time, made again at each read: the reference must hold
    a few of those, where reading them into one array held 16 bytes a magnitude (16 MB)."""

    def magnitudes():
        for seed in range(16):
            chunk = np.random.default_rng(seed).lognormal(0, 0.2, 1 << 16)
            chunk[::5000] = 300.0  # a 16-bit image now and then
            yield chunk

    tracemalloc.start()
    try:
        found = reference(magnitudes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    logs = np.log10(np.concatenate(list(magnitudes())))
    assert found is not None and found.median == np.median(logs)
    assert found.above == max(5 * np.median(np.abs(logs - found.median)) * 1.4826, np.log10(16.0))
    assert peak < 10 * (1 << 20), peak
