"""The format check: magic bytes vs extension, non-image content named, allowed formats."""

from __future__ import annotations

from sanitize.checks.format import check_format
from sanitize.config import ScanConfig
from tests.conftest import codes, gif_bytes, jpeg_bytes, png_bytes


def test_matching_format_passes(load_bytes, config):
    loaded = load_bytes(jpeg_bytes(), "a.JPEG")
    assert check_format(loaded, config) == []
    assert loaded.info.format == "JPEG"


def test_png_named_jpg_is_an_error(load_bytes, config):
    loaded = load_bytes(png_bytes(), "a.jpg")
    (finding,) = check_format(loaded, config)
    assert (finding.code, finding.severity.value) == ("extension_mismatch", "error")
    assert "PNG" in finding.message


def test_gif_named_jpg_is_downgraded_with_allow_mismatch(load_bytes):
    config = ScanConfig(num_classes=3, allow_mismatch=True)
    (finding,) = check_format(load_bytes(gif_bytes(), "a.jpg"), config)
    assert (finding.code, finding.severity.value) == ("extension_mismatch", "warning")


def test_html_page_saved_as_jpg_is_named(load_bytes, config):
    page = b"<!DOCTYPE html>\n<html><head><title>Network login</title></head><body>scan the QR</body></html>"
    loaded = load_bytes(page, "cat_0001.jpg")
    (finding,) = check_format(loaded, config)
    assert finding.code == "not_an_image"
    assert "HTML" in finding.message
    assert loaded.findings == []  # decoding is not even attempted


def test_json_error_body_is_named(load_bytes, config):
    (finding,) = check_format(load_bytes(b'{"error": "rate limited"}', "x.png"), config)
    assert finding.code == "not_an_image"
    assert "JSON" in finding.message


def test_disallowed_format(load_bytes):
    config = ScanConfig(num_classes=3, formats=("JPEG",))
    assert codes(check_format(load_bytes(png_bytes(), "a.png"), config)) == {"format:disallowed"}


def test_unsupported_extension(load_bytes, config):
    assert codes(check_format(load_bytes(jpeg_bytes(), "a.txt"), config)) == {"format:unsupported_extension"}


def test_info_records_mode_size_channels_bit_depth(load_bytes):
    import numpy as np

    loaded = load_bytes(png_bytes(np.full((5, 7), 60000, np.uint16)), "deep.png")
    info = loaded.info
    assert (info.format, info.width, info.height, info.channels, info.bit_depth) == ("PNG", 7, 5, 1, 16)


def test_netpbm_files_are_decoded_and_a_broken_one_is_an_error(load_bytes, config):
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(buffer, format="PPM")
    good = load_bytes(buffer.getvalue(), "a.pgm")
    assert good.findings == [] and check_format(good, config) == []
    assert good.info.format == "PPM"
    broken = load_bytes(buffer.getvalue()[:-20], "b.pgm")
    assert "decode:corrupt_data" in codes(broken.findings)
