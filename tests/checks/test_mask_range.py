"""mask_range: stray pixel values are errors that name the values and their pixel counts."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sanitize.checks.mask_range import check_mask_range
from tests.segmentation_helpers import (
    all_findings,
    codes,
    disc_mask,
    jpeg_roundtrip,
    mask_sample,
    resized,
    seg_config,
    square_mask,
)


def test_valid_classes_and_ignore_label_pass(tmp_path):
    mask = square_mask(value=2)
    mask[0, :] = 255  # VOC-style boundary: the default mask ignore label
    config = seg_config(num_classes=3)
    loaded = mask_sample(tmp_path, mask, config)
    assert all_findings(loaded, config) == []
    assert loaded.mask.values == {0: int((mask == 0).sum()), 2: int((mask == 2).sum()), 255: 64}


def test_sixteen_bit_values_beyond_class_count_are_reported_with_counts(tmp_path):
    mask = square_mask(value=1, dtype=np.uint16)
    mask[0, :5] = 300
    mask[1, :2] = 1000
    config = seg_config(num_classes=3)
    loaded = mask_sample(tmp_path, mask, config)
    assert loaded.mask.info.mode.startswith("I;16")
    [finding] = check_mask_range(loaded, config)
    assert finding.is_error and finding.code == "out_of_range"
    assert "7 pixels outside [0, 3)" in finding.message
    assert "300: 5 px" in finding.message and "1000: 2 px" in finding.message


def test_explicit_ignore_label_replaces_255(tmp_path):
    mask = square_mask(value=1)
    mask[0, 0] = 255
    mask[1, 1] = 250
    config = seg_config(num_classes=3, ignore_label=250)
    [finding] = check_mask_range(mask_sample(tmp_path, mask, config), config)
    assert finding.message.endswith("not the ignore label 250: 255: 1 px")


def test_jpeg_compressed_mask_has_edge_artefacts_out_of_range(tmp_path):
    mask = disc_mask(value=20)
    config = seg_config(num_classes=21)
    loaded = mask_sample(tmp_path, mask, config, mask_ext=".jpg", quality=75)
    assert loaded.mask.info.decoder == "pillow"
    assert loaded.mask.index_map.shape == mask.shape  # full resolution, never DCT-downscaled
    assert max(loaded.mask.values) > 20, "JPEG ringing should overshoot the top class"
    assert codes(all_findings(loaded, config)) == {"mask:lossy", "mask:out_of_range"}


def test_jpeg_artefacts_survive_being_saved_as_png(tmp_path):
    config = seg_config(num_classes=21)
    loaded = mask_sample(tmp_path, jpeg_roundtrip(disc_mask(value=20)), config)
    assert codes(all_findings(loaded, config)) == {"mask:out_of_range"}


def test_nearest_resize_keeps_the_value_set_bilinear_does_not(tmp_path):
    mask = square_mask(value=2)
    config = seg_config(num_classes=3)
    nearest = mask_sample(tmp_path / "n", resized(mask, (50, 37), Image.Resampling.NEAREST), config)
    assert set(nearest.mask.values) == {0, 2}
    assert check_mask_range(nearest, config) == []
    bilinear_mask = resized(square_mask(value=200), (50, 37), Image.Resampling.BILINEAR)
    bilinear = mask_sample(tmp_path / "b", bilinear_mask, seg_config(num_classes=201))
    assert len(bilinear.mask.values) > 2  # in-between values along the edge (the rare-value check's job)
    [finding] = check_mask_range(bilinear, seg_config(num_classes=3))
    assert finding.code == "out_of_range"


def test_npy_int_masks_report_negative_values(tmp_path):
    mask = square_mask(value=1, dtype=np.int64)
    mask[0, 0] = -1
    config = seg_config(num_classes=3)
    loaded = mask_sample(tmp_path, mask, config, mask_ext=".npy")
    [finding] = check_mask_range(loaded, config)
    assert "-1: 1 px" in finding.message
