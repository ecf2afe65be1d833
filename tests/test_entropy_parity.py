"""The compiled entropy decoder (sanitize/load/_entropy.c) on crafted JPEGs its differential fuzzing
with Pillow's encodings does not reach: its 1/8 picture must be strict libjpeg-turbo's exactly, or not
be made (sanitize/load/image.py then decodes with libjpeg-turbo itself)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from sanitize.load import entropy
from tests.test_entropy import _encoding_pixels, _quiet_header, _strict_eighth

pytestmark = pytest.mark.skipif(not entropy.available(), reason="sanitize/load/_entropy.c was not built")


def _named_rgb(subsampling: int, jfif: bool) -> bytes:
    """A YCbCr JPEG whose components are named R, G, B (ids 82, 71, 66), with or without its JFIF APP0."""
    buffer = io.BytesIO()
    Image.fromarray(_encoding_pixels()).save(buffer, "JPEG", quality=90, subsampling=subsampling)
    data = bytearray(buffer.getvalue())
    assert data[2:4] == b"\xff\xe0"
    if not jfif:
        del data[2 : 4 + int.from_bytes(data[4:6], "big")]
    frame, scan = data.index(b"\xff\xc0"), data.index(b"\xff\xda")
    for index, name in enumerate(b"RGB"):
        data[frame + 10 + 3 * index] = data[scan + 5 + 2 * index] = name
    return bytes(data)


@pytest.mark.parametrize("subsampling", [0, 2], ids=["4:4:4", "4:2:0"])
@pytest.mark.parametrize("jfif", [False, True], ids=["no-JFIF", "JFIF"])
def test_components_named_r_g_b_get_libjpegs_colours_or_no_picture(subsampling, jfif):
    """libjpeg-turbo takes three components named R, G, B as RGB when no JFIF (or Adobe) marker says
    YCbCr (jdapimin.c default_decompress_parms): converting them from YCbCr would give other colours."""
    data = _named_rgb(subsampling, jfif)
    theirs = _strict_eighth(data)
    assert _quiet_header(data) and theirs is not None
    ours = entropy.entropy_decode(data, eighth=True).eighth
    if jfif:
        assert ours is not None  # YCbCr, as for any JFIF file
    if ours is not None:
        assert ours.shape == theirs.shape and (ours == theirs).all()
