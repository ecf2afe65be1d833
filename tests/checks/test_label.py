"""The label check: only integers in [0, num_classes) or exactly the ignore label pass."""

from __future__ import annotations

import pytest

from sanitize.config import ScanConfig
from sanitize.labels import parse_label

CONFIG = ScanConfig(num_classes=10, ignore_label=255)


@pytest.mark.parametrize("text", ["0", "9", "+3", "007"])
def test_valid_labels(text):
    index, finding = parse_label(text, CONFIG)
    assert finding is None
    assert index == int(text)


def test_ignore_label_is_valid_but_has_no_class():
    assert parse_label("255", CONFIG) == (None, None)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("3.7", "not_integer"),
        ("nan", "not_integer"),
        ("cat", "not_integer"),
        ("1e3", "not_integer"),
        ("", "not_integer"),
        (None, "missing"),
        ("-1", "out_of_range"),
        ("10", "out_of_range"),  # num_classes itself
        ("254", "out_of_range"),
        ("2147483648", "overflow"),
        ("-2147483649", "overflow"),
        ("99999999999999999999", "overflow"),
    ],
)
def test_bad_labels(text, code):
    index, finding = parse_label(text, CONFIG)
    assert index is None
    assert (finding.check, finding.code, finding.severity.value) == ("label", code, "error")


def test_ignore_label_can_be_negative():
    config = ScanConfig(num_classes=2, ignore_label=-1)
    assert parse_label("-1", config) == (None, None)
    assert parse_label("-2", config)[1].code == "out_of_range"


def test_without_an_ignore_label_255_is_out_of_range():
    assert parse_label("255", ScanConfig(num_classes=10))[1].code == "out_of_range"


@pytest.mark.parametrize("text", ["\u0661", "\uff11", "\u00b2"])
def test_unicode_digits_are_not_labels(text):
    """Caffe's atoi reads them as 0; Python's int() would accept the first two."""
    assert parse_label(text, CONFIG)[1].code == "not_integer"
