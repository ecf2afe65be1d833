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


def reference(magnitudes: np.ndarray) -> Reference | None:
    """The dataset's scale, or None with fewer than 8 finite magnitudes.

    Robust: median and MAD of log10 magnitudes, so one 16-bit image among a million 8-bit ones
    cannot move the reference. Works in one buffer of log magnitudes (8 bytes a sample, the
    only memory that grows with the dataset, and only while the verdict is made).
    """
    logs = np.log10(magnitudes[np.isfinite(magnitudes) & (magnitudes > 0)])
    if len(logs) < 8:
        return None
    median = float(np.median(logs, overwrite_input=True))
    np.abs(np.subtract(logs, median, out=logs), out=logs)
    spread = 5 * float(np.median(logs, overwrite_input=True)) * 1.4826
    return Reference(median, max(spread, math.log10(OUTLIER_FACTOR)), max(spread, math.log10(LOW_OUTLIER_FACTOR)))


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
        the magnitudes read back into one array for the reference, then chunk by chunk with
        their indices for the outliers."""
        magnitudes = np.empty(self._spill.rows, dtype=np.float64)
        filled = 0
        for rows in self._spill.chunks():
            magnitudes[filled : filled + len(rows)] = rows["magnitude"]
            filled += len(rows)
        found = reference(magnitudes)
        del magnitudes
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
