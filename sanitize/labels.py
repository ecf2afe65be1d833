"""Label text to class index, by the rule training applies: an integer in [0, num_classes) or
exactly the ignore label. Shared by the label check, the probe (which needs the class) and the
report (which counts classes); the label check turns its verdict into a finding."""

from __future__ import annotations

import functools
import re

from sanitize.config import ScanConfig
from sanitize.findings import Finding, error

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")  # not \\d: Unicode digits are no label to atoi


def parse_label(text: str | None, config: ScanConfig) -> tuple[int | None, Finding | None]:
    """(class index or None, the finding if the label is not a valid class or ignore label)."""
    return _parse_label(text, config.num_classes, config.ignore_label)


@functools.lru_cache(maxsize=4096)
def _parse_label(text: str | None, num_classes: int, ignore_label: int | None) -> tuple[int | None, Finding | None]:
    """parse_label, remembered: a dataset has few distinct labels, and each sample's is parsed by
    the label check, the probe and the result (a Finding is immutable, so one serves them all)."""
    if text is None:
        return None, error("label", "missing", "no label field")
    if not _INTEGER.fullmatch(text):
        return None, error("label", "not_integer", f"label {text!r} is not an integer")
    value = int(text)
    if not INT32_MIN <= value <= INT32_MAX:
        return None, error("label", "overflow", f"label {text} does not fit in int32")
    if value == ignore_label:
        return None, None
    if not 0 <= value < num_classes:
        return None, error("label", "out_of_range", f"label {value} is outside [0, {num_classes})")
    return value, None
