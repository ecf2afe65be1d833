"""The checks, in the order they run: per-sample checks (pure functions of a loaded sample) and
dataset-wide checks (a per-sample statistic, a verdict over the whole dataset); see checks.kinds.

Adding a check: write checks/<name>.py, declare its codes in the findings catalogue
(sanitize.findings), add it to CHECKS or DATASET_CHECKS, and write its table-driven test
(docs/contributing.md has the recipe).
"""

from __future__ import annotations

from sanitize.checks.duplicates import Duplicates
from sanitize.checks.finite import check_finite
from sanitize.checks.format import check_format
from sanitize.checks.kinds import Check, DatasetCheck
from sanitize.checks.label import check_label
from sanitize.checks.leakage import Leakage
from sanitize.checks.mask_binary import check_mask_binary
from sanitize.checks.mask_format import check_mask_format
from sanitize.checks.mask_ignored import check_mask_ignored
from sanitize.checks.mask_range import check_mask_range
from sanitize.checks.mask_size import check_mask_size
from sanitize.checks.mixed_modes import MixedModes
from sanitize.checks.mode import check_mode
from sanitize.checks.paths import check_mask_path, check_paths
from sanitize.checks.rare_value import RareValue
from sanitize.checks.scale_outlier import ScaleOutlier

#: Checks of a loaded sample (decode findings come from loading itself; the paths check runs
#: before loading, because an unsafe path must never be opened).
CHECKS: tuple[Check, ...] = (
    check_format,
    check_finite,
    check_label,
    check_mode,
    check_mask_format,
    check_mask_size,
    check_mask_range,
    check_mask_ignored,
    check_mask_binary,
)

#: Checks judged over the whole dataset, at the end of a scan.
DATASET_CHECKS: tuple[type[DatasetCheck], ...] = (MixedModes, ScaleOutlier, RareValue, Duplicates, Leakage)

__all__ = ["CHECKS", "DATASET_CHECKS", "Check", "DatasetCheck", "check_mask_path", "check_paths"]
