"""mask_binary: 0/255 masks with two classes."""

from __future__ import annotations

from sanitize.checks.mask_binary import check_mask_binary
from tests.segmentation_helpers import all_findings, codes, mask_sample, seg_config, square_mask


def test_0_255_mask_with_two_classes_warns_that_foreground_is_ignored(tmp_path):
    config = seg_config(num_classes=2)
    loaded = mask_sample(tmp_path, square_mask(value=255), config)
    [finding] = check_mask_binary(loaded, config)
    assert not finding.is_error and "foreground trains nothing" in finding.message
    assert codes(all_findings(loaded, config)) == {"mask:binary_255"}  # 255 is the ignore label: in range


def test_0_255_mask_without_255_as_ignore_label_is_also_out_of_range(tmp_path):
    config = seg_config(num_classes=2, ignore_label=254)
    loaded = mask_sample(tmp_path, square_mask(value=255), config)
    assert "out of range" in check_mask_binary(loaded, config)[0].message
    assert codes(all_findings(loaded, config)) == {"mask:binary_255", "mask:out_of_range"}


def test_0_1_masks_and_other_class_counts_do_not_warn(tmp_path):
    assert check_mask_binary(mask_sample(tmp_path / "a", square_mask(value=1), seg_config(2)), seg_config(2)) == []
    three = seg_config(num_classes=3)
    assert check_mask_binary(mask_sample(tmp_path / "b", square_mask(value=255), three), three) == []
    mixed = square_mask(value=255)
    mixed[0, 0] = 1
    assert check_mask_binary(mask_sample(tmp_path / "c", mixed, seg_config(2)), seg_config(2)) == []
