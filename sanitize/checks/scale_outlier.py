"""scale_outlier (dataset-wide): a sample whose input magnitude is far off the dataset's median.

The probe measures each sample's largest |input| after scaling, on the workers; this check
compares every magnitude with the dataset's at the end. A 16-bit image among 8-bit ones is
257x too bright, a [0, 255] float image among [0, 1] ones 255x: each trains, but on the wrong
scale, and pushes exp() towards overflow. A warning: the fix (the right --scale, or converting
the file) is the user's call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np

from sanitize.checks.kinds import DatasetCheck, SamplesOf
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.findings import Finding, warning
from sanitize.model import CleanColumns, SampleResult
from sanitize.storage import Spill

#: A sample is a scale outlier when its magnitude is this many times above the dataset median
#: (in log space, and beyond 5 robust deviations): a 16-bit image among 8-bit ones is 257x.
OUTLIER_FACTOR = 16.0
#: Below the median only a much larger factor counts (a [0,1] image among [0,255] ones is 255x),
#: so that dark images are not flagged; an all-zero image has no scale at all and never is.
LOW_OUTLIER_FACTOR = 128.0
#: A column of values read chunk by chunk, each call from the start (a spill, or an array's pieces).
Columns = Callable[[], Iterable[np.ndarray]]


class Reference(NamedTuple):
    """The dataset's scale: median log10 magnitude and the log10 distances allowed above and below."""

    median: float
    above: float
    below: float

    def outliers(self, magnitudes: np.ndarray) -> np.ndarray:
        """The mask of outliers among `magnitudes` (any slice of the dataset's)."""
        mask = np.zeros(len(magnitudes), dtype=bool)
        scaled = np.isfinite(magnitudes) & (magnitudes > 0)
        logs = np.log10(magnitudes[scaled])
        mask[scaled] = (logs - self.median > self.above) | (self.median - logs > self.below)
        return mask


#: Values a selection gathers into memory once it knows they hold the one it looks for.
GATHER = 1 << 16
_SIGN = np.uint64(1 << 63)


def _keys(values: np.ndarray) -> np.ndarray:
    """float64 values as uint64 keys in the same order (the IEEE 754 bits, negatives reversed)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN)


def _value(key: int) -> float:
    bits = key & ~(1 << 63) if key >> 63 else ~key & 0xFFFF_FFFF_FFFF_FFFF
    return float(np.array(bits, dtype=np.uint64).view(np.float64))


def kth_smallest(columns: Columns, k: int) -> float:
    """The k-th smallest (from 0) of the float64 values `columns()` yields (not NaN), exactly, in
    memory that does not depend on their number: a radix selection on their bits, 16 at a time
    (a pass of counts in 65,536 bins finds the bin that holds it), until its bin holds at most
    GATHER values, which are then gathered and partitioned (or all 64 bits are known: ties)."""
    prefix, known = 0, 0  # the top `known` bits of the value's key
    while known < 64:
        counts = np.zeros(1 << 16, dtype=np.int64)
        for values in columns():
            keys = _keys(values)
            keys = keys[keys >> np.uint64(64 - known) == prefix] if known else keys
            counts += np.bincount(
                (keys >> np.uint64(48 - known) & np.uint64(0xFFFF)).astype(np.intp), minlength=1 << 16
            )
        total = np.cumsum(counts)
        digit = int(np.searchsorted(total, k, side="right"))
        k -= int(total[digit - 1]) if digit else 0
        prefix, known = prefix << 16 | digit, known + 16
        if known < 64 and counts[digit] <= GATHER:
            gathered = [keys[keys >> np.uint64(64 - known) == prefix] for keys in map(_keys, columns())]
            return _value(int(np.partition(np.concatenate(gathered), k)[k]))
    return _value(prefix)


def median(columns: Columns, count: int) -> float:
    """np.median of the `count` values `columns()` yields, bit for bit, without holding them."""
    middle = kth_smallest(columns, count // 2)
    return middle if count % 2 else (kth_smallest(columns, count // 2 - 1) + middle) / 2


def reference(magnitudes: Columns) -> Reference | None:
    """The dataset's scale from its magnitudes (`magnitudes()` yields them chunk by chunk), or None
    with fewer than 8 finite ones.

    Robust: median and MAD of log10 magnitudes, so one 16-bit image among a million 8-bit ones
    cannot move the reference. Both are exact (np.median's) and found by selection over the
    chunks, each read a few times (kth_smallest): memory does not grow with the dataset. The
    logarithms are taken once, into a spill of their own, not again on every pass.
    """
    logs = Spill(np.dtype(np.float64))
    for chunk in magnitudes():
        logs.append(np.log10(chunk[np.isfinite(chunk) & (chunk > 0)]))
    if logs.rows < 8:
        return None
    middle = median(logs.chunks, logs.rows)
    spread = 5 * median(lambda: (np.abs(chunk - middle) for chunk in logs.chunks()), logs.rows) * 1.4826
    return Reference(middle, max(spread, math.log10(OUTLIER_FACTOR)), max(spread, math.log10(LOW_OUTLIER_FACTOR)))


class ScaleOutlier(DatasetCheck):
    """State: (sample index, magnitude) of every probed sample, spilled to a temporary file (16
    bytes a sample on disk, none in memory) until the verdict, which reads the magnitudes back."""

    code = "probe:scale_outlier"
    section = "probe.scale"
    _ROW = np.dtype([("index", np.int64), ("magnitude", np.float64)])

    def __init__(self, config: ScanConfig, against: tuple[Dataset, ...] = ()) -> None:
        super().__init__(config, against)
        self._spill = Spill(self._ROW)

    @classmethod
    def applies(cls, config: ScanConfig) -> bool:
        return config.probe

    def _append(self, indices: np.ndarray, magnitudes: np.ndarray) -> None:
        probed = ~np.isnan(magnitudes)
        rows = np.empty(int(probed.sum()), dtype=self._ROW)
        rows["index"], rows["magnitude"] = indices[probed], magnitudes[probed]
        self._spill.append(rows)

    def add(self, results: list[SampleResult]) -> None:
        nan = float("nan")
        self._append(
            np.array([r.index for r in results], dtype=np.int64),
            np.array([nan if r.magnitude is None else r.magnitude for r in results], dtype=np.float64),
        )

    def add_columns(self, clean: CleanColumns) -> None:
        self._append(clean.indices, clean.magnitudes)

    @functools.cached_property
    def _judged(self) -> tuple[np.ndarray, np.ndarray, float, float]:
        """(the outliers' indices, their magnitudes, the median magnitude, the allowed factor):
        the magnitudes read back chunk by chunk for the reference, then with their indices for
        the outliers."""
        found = reference(lambda: (rows["magnitude"] for rows in self._spill.chunks()))
        if found is None:
            return np.zeros(0, np.int64), np.zeros(0), float("nan"), float("nan")
        indices, outlying = [], []
        for rows in self._spill.chunks():
            mask = found.outliers(rows["magnitude"])
            indices.append(rows["index"][mask])
            outlying.append(rows["magnitude"][mask])
        return np.concatenate(indices), np.concatenate(outlying), 10**found.median, 10**found.above

    def verdict(self, samples_of: SamplesOf | None = None) -> dict[int, Finding]:  # summary reuses _judged
        indices, magnitudes, median, factor = self._judged
        return {
            int(index): warning(
                "probe",
                "scale_outlier",
                f"max |input| {magnitude:.4g} is more than {factor:.3g}x off the"
                f" dataset median {median:.4g}: wrong bit depth or value range?",
            )
            for index, magnitude in zip(indices.tolist(), magnitudes, strict=True)
        }

    def summary(self, class_names: list[str] | None) -> dict[str, Any]:
        """The reference (null without one: fewer than 8 samples with a magnitude; JSON has no NaN)."""
        _, _, median, factor = self._judged
        known = not math.isnan(median)
        return {"median_magnitude": median if known else None, "outlier_factor": factor if known else None}
