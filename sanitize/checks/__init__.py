"""The checks, in the order they run. Each is a pure function of a loaded sample.

Adding a check: write checks/<name>.py with a `check_<name>(loaded, config)` function, add
one line to CHECKS, a test file, and a row in the README's table of checks.
"""

from __future__ import annotations

from collections.abc import Callable

from sanitize.checks.finite import check_finite
from sanitize.checks.format import check_format
from sanitize.checks.label import check_label
from sanitize.checks.mask_binary import check_mask_binary
from sanitize.checks.mask_format import check_mask_format
from sanitize.checks.mask_ignored import check_mask_ignored
from sanitize.checks.mask_range import check_mask_range
from sanitize.checks.mask_size import check_mask_size
from sanitize.checks.paths import check_mask_path, check_paths
from sanitize.config import ScanConfig
from sanitize.types import Finding, Loaded

Check = Callable[[Loaded, ScanConfig], list[Finding]]

#: Checks of a loaded sample (decode findings come from loading itself; the paths check runs
#: before loading, because an unsafe path must never be opened).
CHECKS: tuple[Check, ...] = (
    check_format,
    check_finite,
    check_label,
    check_mask_format,
    check_mask_size,
    check_mask_range,
    check_mask_ignored,
    check_mask_binary,
)

__all__ = ["CHECKS", "Check", "check_mask_path", "check_paths"]
