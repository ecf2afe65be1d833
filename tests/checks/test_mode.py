"""The per-sample mode check: CMYK/YCCK JPEGs, EXIF-rotated images, animated images in a
classification set; each on files made here, read by the real loader."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from sanitize.checks.mode import check_mode
from sanitize.config import ScanConfig
from sanitize.load.fingerprint import jpeg_header
from tests.conftest import gif_bytes, photo

CLASSIFICATION = ScanConfig(num_classes=2)
SEGMENTATION = ScanConfig(num_classes=2, task="segmentation")


def _jpeg(mode: str = "RGB", orientation: int | None = None) -> bytes:
    image = Image.fromarray(photo()).convert(mode)
    buffer = io.BytesIO()
    if orientation is None:
        image.save(buffer, "JPEG")
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "config", "codes"),
    [
        ("rgb.jpg", _jpeg(), CLASSIFICATION, []),
        ("upright.jpg", _jpeg(orientation=1), CLASSIFICATION, []),
        ("grey.jpg", _jpeg("L"), CLASSIFICATION, []),
        ("cmyk.jpg", _jpeg("CMYK"), CLASSIFICATION, ["cmyk"]),
        ("turned.jpg", _jpeg(orientation=6), CLASSIFICATION, ["exif_rotated"]),
        ("mirrored.jpg", _jpeg(orientation=2), CLASSIFICATION, ["exif_rotated"]),
        ("still.gif", gif_bytes(1), CLASSIFICATION, []),
        ("animated.gif", gif_bytes(3), CLASSIFICATION, ["animated"]),
        ("animated.gif", gif_bytes(3), SEGMENTATION, []),  # only a classification set is judged
    ],
)
def test_mode_findings(load_bytes, name, data, config, codes):
    loaded = load_bytes(data, name, cfg=config)
    assert not [f for f in loaded.findings if f.is_error]
    assert [f.code for f in check_mode(loaded, config)] == codes


def test_jpeg_header_reads_orientation_and_components_and_survives_damage():
    assert jpeg_header(_jpeg(orientation=8)) == (8, 3)
    assert jpeg_header(_jpeg("CMYK")) == (None, 4)
    assert jpeg_header(_jpeg("L")) == (None, 1)
    broken = bytearray(_jpeg(orientation=6))
    start = broken.index(b"Exif\0\0")
    broken[start + 6 : start + 14] = b"\xff" * 8  # the TIFF header inside the EXIF block
    assert jpeg_header(bytes(broken))[0] is None
    assert jpeg_header(b"\xff\xd8\xff") == (None, None)  # cut inside the header
    assert np.asarray(Image.open(io.BytesIO(_jpeg(orientation=6)))).shape == (96, 128, 3)


def test_a_truncated_exif_value_is_read_without_a_warning():
    """An EXIF tag whose value runs past its block (Pillow's jfif_unit_cm.jpg): Pillow's TIFF reader
    warns "Truncated File Read", which would land in every worker's log."""
    tiff = b"MM\x00*\x00\x00\x00\x08\x00\x01\x01\x0e\x00\x02\x00\x00\x00\x0c\x00\x00\x00\x1a\x00\x00\x00\x00"
    block = b"Exif\x00\x00" + tiff + b"first"  # ImageDescription: 12 bytes at 0x1a, 5 there
    data = _jpeg()
    data = data[:2] + b"\xff\xe1" + (len(block) + 2).to_bytes(2, "big") + block + data[2:]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert jpeg_header(data) == (None, 3)
    assert [str(w.message) for w in caught] == []
