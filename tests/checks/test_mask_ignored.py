"""mask_ignored: the all-ignored mask, whose severity follows the loss normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from sanitize.checks.mask_ignored import check_mask_ignored
from sanitize.findings import Severity
from tests.segmentation_helpers import mask_sample, seg_config, square_mask


@pytest.mark.parametrize(
    ("normalization", "severity"),
    [
        ("valid", Severity.ERROR),
        ("full", Severity.WARNING),
        ("batch_size", Severity.WARNING),
        ("none", Severity.WARNING),
    ],
)
def test_all_255_mask_under_each_normalisation(tmp_path, normalization, severity):
    config = seg_config(normalization=normalization)
    loaded = mask_sample(tmp_path, np.full((48, 64), 255, np.uint8), config)
    [finding] = check_mask_ignored(loaded, config)
    assert (finding.code, finding.severity) == ("all_ignored", severity)
    assert ("0/0 = NaN" in finding.message) == (normalization == "valid")


def test_a_single_labelled_pixel_is_enough(tmp_path):
    mask = np.full((48, 64), 255, np.uint8)
    mask[10, 10] = 0
    config = seg_config()
    assert check_mask_ignored(mask_sample(tmp_path, mask, config), config) == []


def test_the_configured_ignore_label_is_the_one_that_counts(tmp_path):
    config = seg_config(ignore_label=0)
    assert check_mask_ignored(mask_sample(tmp_path / "a", np.zeros((48, 64), np.uint8), config), config)
    assert check_mask_ignored(mask_sample(tmp_path / "b", square_mask(), config), config) == []
    all_255 = mask_sample(tmp_path / "c", np.full((48, 64), 255, np.uint8), config)
    assert check_mask_ignored(all_255, config) == []  # 255 is out of range here, not ignored
