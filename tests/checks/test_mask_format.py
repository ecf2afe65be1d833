"""Mask decoding and mask_format: what cannot become an index map, and lossy or missing masks."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from PIL import Image

from sanitize.checks.mask_format import check_mask_format
from sanitize.errors import SanitizeError
from sanitize.load.palette import read_palette
from tests.segmentation_helpers import (
    all_findings,
    codes,
    load_pair,
    mask_sample,
    photo,
    save,
    seg_config,
    square_mask,
)

COLOURS = {(0, 0, 0): 0, (128, 0, 0): 1, (0, 128, 0): 2}


def rgb_mask() -> np.ndarray:
    """An RGB colour-coded mask: black background, a red square, a green stripe."""
    index = square_mask(value=1)
    index[:4, :] = 2
    table = np.array([colour for colour, _ in sorted(COLOURS.items(), key=lambda kv: kv[1])], dtype=np.uint8)
    return table[index]


def palette_file(tmp_path, colours=COLOURS):
    path = tmp_path / "palette.json"
    path.write_text(json.dumps({",".join(map(str, rgb)): cls for rgb, cls in colours.items()}))
    return path


def test_rgb_mask_without_palette_is_an_error(tmp_path):
    config = seg_config()
    loaded = mask_sample(tmp_path, rgb_mask(), config)
    assert loaded.mask.index_map is None
    assert codes(all_findings(loaded, config)) == {"mask:rgb"}


def test_grey_rgb_mask_gets_a_hint(tmp_path):
    config = seg_config()
    loaded = mask_sample(tmp_path, np.repeat(square_mask()[:, :, None], 3, axis=2), config)
    [finding] = loaded.findings
    assert finding.code == "rgb" and "channels are equal" in finding.message


def test_rgb_mask_with_palette_becomes_the_index_map(tmp_path):
    config = seg_config(palette=read_palette(palette_file(tmp_path)))
    loaded = mask_sample(tmp_path, rgb_mask(), config)
    expected = square_mask(value=1)
    expected[:4, :] = 2
    np.testing.assert_array_equal(loaded.mask.index_map, expected)
    assert all_findings(loaded, config) == []


def test_rgb_mask_with_colours_missing_from_the_palette(tmp_path):
    config = seg_config(palette=read_palette(palette_file(tmp_path, {(0, 0, 0): 0, (128, 0, 0): 1})))
    loaded = mask_sample(tmp_path, rgb_mask(), config)
    [finding] = loaded.findings
    assert finding.code == "unmapped_colour" and "(0,128,0): 256 px" in finding.message


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not json", "is not JSON"),
        ("[1, 2]", "non-empty JSON object"),
        ('{"1,2": 0}', 'is not "R,G,B"'),
        ('{"1,2,300": 0}', 'is not "R,G,B"'),
        ('{"1,2,3": "cat"}', "must be an integer"),
    ],
)
def test_bad_palette_files_are_one_line_errors(tmp_path, text, complaint):
    path = tmp_path / "palette.json"
    path.write_text(text)
    with pytest.raises(SanitizeError, match=complaint):
        read_palette(path)


def test_jpeg_mask_is_lossy_even_when_values_look_fine(tmp_path):
    config = seg_config(num_classes=256)
    loaded = mask_sample(tmp_path, square_mask(value=200), config, mask_ext=".jpg")
    [finding] = check_mask_format(loaded, config)
    assert finding.is_error and finding.code == "lossy"


def test_segmentation_sample_without_mask_is_an_error(tmp_path):
    config = seg_config()
    save(tmp_path / "image.png", photo())
    loaded = load_pair(tmp_path, "image.png", None, config)
    assert codes(all_findings(loaded, config)) == {"mask:missing"}


def test_float_npy_mask_is_not_an_index_map(tmp_path):
    config = seg_config()
    loaded = mask_sample(tmp_path, square_mask().astype(np.float32), config, mask_ext=".npy")
    assert codes(loaded.findings) == {"mask:not_integer"}


def test_pickled_npy_mask_is_never_unpickled(tmp_path):
    config = seg_config()
    save(tmp_path / "image.png", photo())
    np.save(tmp_path / "mask.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    loaded = load_pair(tmp_path, "image.png", "mask.npy", config)
    [finding] = loaded.findings
    assert finding.is_error and finding.check == "mask"
    assert loaded.mask.index_map is None


def test_channel_last_singleton_npy_mask_is_accepted(tmp_path):
    config = seg_config()
    loaded = mask_sample(tmp_path, square_mask(dtype=np.uint8)[:, :, None], config, mask_ext=".npy")
    assert loaded.mask.index_map.shape == square_mask().shape
    assert all_findings(loaded, config) == []


def test_two_channel_mask_is_refused(tmp_path):
    config = seg_config()
    save(tmp_path / "image.png", photo())
    Image.fromarray(np.stack([square_mask(), square_mask()], axis=-1), mode="LA").save(tmp_path / "mask.png")
    loaded = load_pair(tmp_path, "image.png", "mask.png", config)
    assert codes(loaded.findings) == {"mask:not_single_channel"}


def test_palette_mode_png_gives_its_indices(tmp_path):
    config = seg_config(num_classes=21)
    indices = square_mask(value=15)
    image = Image.fromarray(indices, mode="L").convert("P")
    image.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    save(tmp_path / "image.png", photo())
    image.save(tmp_path / "mask.png")
    loaded = load_pair(tmp_path, "image.png", "mask.png", config)
    assert loaded.mask.info.mode == "P"
    np.testing.assert_array_equal(loaded.mask.index_map, indices)


def test_html_saved_as_mask_is_not_an_image(tmp_path):
    config = seg_config()
    save(tmp_path / "image.png", photo())
    (tmp_path / "mask.png").write_bytes(b"<!DOCTYPE html><html>404</html>")
    loaded = load_pair(tmp_path, "image.png", "mask.png", config)
    assert codes(loaded.findings) == {"mask:not_an_image"}


def test_truncated_mask_png_is_corrupt(tmp_path):
    config = seg_config()
    path = save(tmp_path / "full.png", square_mask())
    save(tmp_path / "image.png", photo())
    (tmp_path / "mask.png").write_bytes(path.read_bytes()[:-40])
    loaded = load_pair(tmp_path, "image.png", "mask.png", config)
    assert codes(loaded.findings) == {"mask:corrupt_data"}


def test_a_mask_tiff_with_a_broken_second_page_is_corrupt(tmp_path):
    """Counting the pages reads every IFD: a second one without dimensions made Pillow raise
    TypeError outside the decode's error handling (internal:check_failed; found by fuzzing)."""
    config = seg_config()
    data = bytearray(save(tmp_path / "full.tif", square_mask()).read_bytes())
    (first,) = struct.unpack_from("<I", data, 4)
    (tags,) = struct.unpack_from("<H", data, first)
    data += bytes(len(data) % 2)  # an IFD starts on a word boundary
    struct.pack_into("<I", data, first + 2 + 12 * tags, len(data))  # the next IFD: one tag, no size
    data += struct.pack("<H", 1) + struct.pack("<HHII", 259, 3, 1, 1) + struct.pack("<I", 0)
    save(tmp_path / "image.png", photo())
    (tmp_path / "mask.tif").write_bytes(bytes(data))
    loaded = load_pair(tmp_path, "image.png", "mask.tif", config)
    assert codes(loaded.findings) == {"mask:corrupt_data"}


def test_noise_with_too_many_values_is_not_an_index_map(tmp_path):
    config = seg_config()
    noise = np.arange(300 * 300, dtype=np.int32).reshape(300, 300)
    loaded = mask_sample(tmp_path, noise, config, mask_ext=".npy")
    assert codes(loaded.findings) == {"mask:not_an_index_map"}
    assert loaded.mask.values == {} and loaded.mask.index_map is None


def test_one_bit_mask_gives_zero_and_one(tmp_path):
    config = seg_config(num_classes=2)
    save(tmp_path / "image.png", photo())
    Image.fromarray(square_mask(value=1) * 255).convert("1").save(tmp_path / "mask.png")
    loaded = load_pair(tmp_path, "image.png", "mask.png", config)
    assert loaded.mask.info.mode == "1"
    np.testing.assert_array_equal(loaded.mask.index_map, square_mask(value=1))
    assert all_findings(loaded, config) == []
