"""mask_size: a mask must match its image's height and width."""

from __future__ import annotations

import numpy as np

from sanitize.checks.mask_size import check_mask_size
from tests.segmentation_helpers import load_pair, photo, save, seg_config, square_mask


def test_same_size_passes_and_mismatch_is_an_error(tmp_path):
    config = seg_config()
    save(tmp_path / "image.jpg", photo(48, 64), quality=90)
    save(tmp_path / "same.png", square_mask(48, 64))
    save(tmp_path / "small.png", square_mask(24, 32))
    assert check_mask_size(load_pair(tmp_path, "image.jpg", "same.png", config), config) == []
    [finding] = check_mask_size(load_pair(tmp_path, "image.jpg", "small.png", config), config)
    assert finding.is_error and finding.message == "mask is 32x24, the image 64x48 (WxH)"


def test_transposed_mask_is_a_mismatch(tmp_path):
    config = seg_config()
    save(tmp_path / "image.png", photo(48, 64))
    save(tmp_path / "mask.png", square_mask(64, 48))
    [finding] = check_mask_size(load_pair(tmp_path, "image.png", "mask.png", config), config)
    assert finding.code == "size_mismatch"


def test_large_jpeg_is_compared_at_full_resolution(tmp_path):
    """The image JPEG is decoded DCT-downscaled; its size must still be the header's."""
    config = seg_config()
    save(tmp_path / "image.jpg", photo(200, 264), quality=90)
    save(tmp_path / "mask.png", square_mask(200, 264))
    loaded = load_pair(tmp_path, "image.jpg", "mask.png", config)
    assert loaded.pixels.shape[0] < 200  # the image really was decoded downscaled
    assert check_mask_size(loaded, config) == []


def test_npy_image_size_comes_from_its_array(tmp_path):
    config = seg_config()
    np.save(tmp_path / "image.npy", photo(48, 64).transpose(2, 0, 1).astype(np.float32))
    save(tmp_path / "good.png", square_mask(48, 64))
    save(tmp_path / "bad.png", square_mask(47, 64))
    assert check_mask_size(load_pair(tmp_path, "image.npy", "good.png", config), config) == []
    assert len(check_mask_size(load_pair(tmp_path, "image.npy", "bad.png", config), config)) == 1
