"""JPEG structure: the marker walk of the primary image, benign warnings that must not end the
strict decode, and every picture of a multi-picture (MPO) file."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from sanitize.config import ScanConfig
from sanitize.load.jpeg import (
    SOS,
    Segment,
    jpeg_head,
    jpeg_segments,
    scan_count,
    without_header_junk,
)
from tests.conftest import CORPUS, codes, flip_entropy_bytes, jpeg_bytes, photo

JUNK = b"\x00\x00\x00\x00"


def segment(marker: int, body: bytes = b"") -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def before_dqt(data: bytes, inserted: bytes) -> bytes:
    dqt = data.index(b"\xff\xdb")
    return data[:dqt] + inserted + data[dqt:]


#: A broken ICC profile: chunk 5 of 1 (ICC.1 B.4), which libjpeg warns about ("bad ICC marker").
BAD_ICC = segment(0xE2, b"ICC_PROFILE\x00\x05\x01")


def exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """An APP1 EXIF segment holding a JPEG thumbnail, as cameras write it: IFD0 (empty), then IFD1
    with JPEGInterchangeFormat (0x0201) and its length (0x0202), then the thumbnail."""
    ifd1 = 8 + 6
    entries = struct.pack("<HHIIHHII", 0x0201, 4, 1, ifd1 + 2 + 24 + 4, 0x0202, 4, 1, len(thumbnail))
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<HI", 0, ifd1) + struct.pack("<H", 2) + entries
    return segment(0xE1, b"Exif\x00\x00" + tiff + struct.pack("<I", 0) + thumbnail)


def progressive_bytes(seed: int = 0, size: tuple[int, int] = (64, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo(*size, seed=seed)).save(buffer, format="JPEG", quality=90, progressive=True)
    return buffer.getvalue()


def camera_jpeg(seed: int = 0) -> bytes:
    """A valid JPEG as a camera writes it: an EXIF thumbnail (progressive: several SOS markers of
    its own) after SOI, then 4 junk bytes before a header marker (jpeg_ff00_header.jpg has both)."""
    data = jpeg_bytes(seed=seed)
    return data[:2] + exif_with_thumbnail(progressive_bytes(seed, (24, 32))) + before_dqt(data[2:], JUNK)


def mpo_bytes(seed: int = 0, second_size: tuple[int, int] = (96, 128)) -> bytes:
    first, second = (Image.fromarray(photo(*size, seed=seed + i)) for i, size in enumerate([(96, 128), second_size]))
    buffer = io.BytesIO()
    first.save(buffer, format="MPO", save_all=True, append_images=[second], quality=90)
    return buffer.getvalue()


def second_picture_at(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as image:
        image.seek(1)
        return image.tile[0][2]


# --- the marker walk ------------------------------------------------------------------------

APP0 = segment(0xE0, b"JFIF\x00")  # 9 bytes
DQT = segment(0xDB, b"\x00" + bytes(64))  # 69 bytes
SOS_HEADER = segment(SOS, b"\x01\x01\x00\x00\x3f\x00")  # 10 bytes
ENTROPY = b"\x12\xff\x00\x34\xff\xd0\x56"  # a stuffed FF 00 and a restart marker: one scan's data
EOI = b"\xff\xd9"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            b"\xff\xd8" + APP0 + DQT + SOS_HEADER + ENTROPY + EOI,
            [(0xD8, 0, 2), (0xE0, 2, 11), (0xDB, 11, 80), (SOS, 80, 90), (0xD9, 97, 99)],
            id="baseline: entropy data skipped past FF 00 and RST",
        ),
        pytest.param(
            b"\xff\xd8" + APP0 + JUNK + DQT + SOS_HEADER + ENTROPY + EOI,
            [(0xD8, 0, 2), (0xE0, 2, 11), (None, 11, 15), (0xDB, 15, 84), (SOS, 84, 94), (0xD9, 101, 103)],
            id="junk before a header marker",
        ),
        pytest.param(
            b"\xff\xd8\xff\x00\x12\x34" + DQT,
            [(0xD8, 0, 2), (None, 2, 6), (0xDB, 6, 75)],
            id="FF 00 where a marker should be is junk (libjpeg skips it)",
        ),
        pytest.param(b"\xff\xd8\xff\xff\xff" + DQT, [(0xD8, 0, 2), (0xDB, 5, 74)], id="fill bytes are not junk"),
        pytest.param(
            b"\xff\xd8" + segment(0xE1, b"\xff\xd8\xff\xda\x00\x02\xff\xd9") + EOI + b"\xff\xda\x00\x02",
            [(0xD8, 0, 2), (0xE1, 2, 14), (0xD9, 14, 16)],
            id="SOS inside a segment body or after EOI is not a scan",
        ),
        pytest.param(
            b"\xff\xd8" + DQT + SOS_HEADER + b"\x12\x34",
            [(0xD8, 0, 2), (0xDB, 2, 71), (SOS, 71, 81)],
            id="truncated in the entropy data",
        ),
        pytest.param(b"\xff\xd8" + DQT[:30], [(0xD8, 0, 2), (0xDB, 2, 32)], id="truncated in a segment"),
        pytest.param(b"\xff\xd8" + APP0 + b"\x01\x02", [(0xD8, 0, 2), (0xE0, 2, 11), (None, 11, 13)], id="junk at end"),
        pytest.param(b"\xff\xd8" + DQT + b"\xff", [(0xD8, 0, 2), (0xDB, 2, 71), (None, 71, 72)], id="an FF at the end"),
        pytest.param(b"\x89PNG\r\n\x1a\n", [], id="not a JPEG"),
    ],
)
def test_jpeg_segments(data, expected):
    assert list(jpeg_segments(data)) == [Segment(*s) for s in expected]


@pytest.mark.parametrize(
    ("data", "scans"),
    [
        pytest.param(jpeg_bytes(), 1, id="baseline"),
        pytest.param(progressive_bytes(), 10, id="progressive"),
        pytest.param(camera_jpeg(), 1, id="baseline with a progressive EXIF thumbnail"),
        pytest.param(jpeg_bytes() + jpeg_bytes(seed=1), 1, id="data after EOI"),
        pytest.param(b"\xff\xd8" + DQT + (SOS_HEADER + ENTROPY) * 3 + EOI, 3, id="three scans"),
    ],
)
def test_scan_count_counts_only_the_primary_images_scans(data, scans):
    assert scan_count(data) == scans
    assert data.count(b"\xff\xda") >= scans


@pytest.mark.parametrize(
    ("data", "rebuilt"),
    [
        pytest.param(b"\xff\xd8" + APP0 + JUNK + DQT + SOS_HEADER + JUNK, b"\xff\xd8" + APP0 + DQT + SOS_HEADER + JUNK),
        pytest.param(b"\xff\xd8" + BAD_ICC + DQT + SOS_HEADER, b"\xff\xd8" + DQT + SOS_HEADER, id="ICC profile"),
        pytest.param(b"\xff\xd8" + JUNK + APP0 + JUNK, b"\xff\xd8" + JUNK + APP0 + JUNK, id="no scan: as is"),
        pytest.param(
            b"\xff\xd8" + segment(0xFE, b"ICC_PROFILE\x00") + JUNK + SOS_HEADER,
            b"\xff\xd8" + segment(0xFE, b"ICC_PROFILE\x00") + SOS_HEADER,
            id="only an APP2 holds an ICC profile",
        ),
    ],
)
def test_without_header_junk_keeps_every_segment_and_all_from_the_first_scan_on(data, rebuilt):
    assert without_header_junk(data) == rebuilt


def test_without_header_junk_is_the_same_object_when_nothing_is_dropped():
    data = jpeg_bytes()
    assert without_header_junk(data) is data


@pytest.mark.parametrize(
    ("data", "index_at"),
    [
        pytest.param(b"\xff\xd8" + APP0 + segment(0xE2, b"MPF\x00II*\x00") + DQT, 19, id="MPF APP2"),
        pytest.param(b"\xff\xd8" + APP0 + segment(0xE2, b"ICC_PROFILE\x00") + DQT, None, id="another APP2"),
        pytest.param(b"\xff\xd8" + APP0 + DQT + segment(0xE2, b"MPF\x00II*\x00"), None, id="not at the head"),
        pytest.param(jpeg_bytes(), None, id="Pillow JPEG"),
    ],
)
def test_the_multi_picture_index_is_found_only_at_the_head(data, index_at):
    assert jpeg_head(data).multi_picture_index_at == index_at


def test_an_mpo_pillow_writes_has_its_index_where_pillow_finds_it():
    data = mpo_bytes()
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "MPO"
        assert data.startswith(image.info["mp"][:8], jpeg_head(data).multi_picture_index_at)


# --- a benign warning never ends the strict decode -----------------------------------------


def _is_error(loaded) -> bool:
    return any(f.is_error for f in loaded.findings)


@pytest.mark.parametrize("inserted", [JUNK, BAD_ICC], ids=["junk", "bad-ICC"])
def test_junk_in_the_header_does_not_hide_entropy_damage(load_bytes, inserted):
    """Each damaged JPEG gets the verdict of its twin without the junk: the warning about the
    junk used to end the strict decode, and Pillow concealed the damage after it."""
    verdicts = []
    for seed in range(20):
        damaged = flip_entropy_bytes(jpeg_bytes(seed=seed), count=3, seed=seed)
        twin = load_bytes(damaged, f"twin{seed}.jpg")
        junked = load_bytes(before_dqt(damaged, inserted), f"junk{seed}.jpg")
        verdicts.append((_is_error(twin), _is_error(junked)))
        if junked.pixels is not None:
            assert "decode:jpeg_warning" in codes(junked.findings)
    assert [twin for twin, _ in verdicts] == [junked for _, junked in verdicts]
    assert sum(twin for twin, _ in verdicts) >= 5


@pytest.mark.parametrize("inserted", [JUNK, BAD_ICC], ids=["junk", "bad-ICC"])
def test_a_benign_warning_alone_is_a_warning_and_libjpeg_turbo_decodes_the_pixels(load_bytes, inserted):
    data = jpeg_bytes()
    clean, junked = load_bytes(data, "clean.jpg"), load_bytes(before_dqt(data, inserted), "junk.jpg")
    assert codes(junked.findings) == {"decode:jpeg_warning"}
    assert junked.info.decoder == "libjpeg-turbo"
    np.testing.assert_array_equal(junked.pixels, clean.pixels)


def test_a_thumbnails_scans_do_not_condemn_a_camera_jpeg(load_bytes):
    data = camera_jpeg()
    assert data.count(b"\xff\xda") > 1  # what was counted as the image's scans
    loaded = load_bytes(data)
    assert codes(loaded.findings) == {"decode:jpeg_warning"}
    assert loaded.pixels is not None


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_pillows_jpeg_ff00_header_is_not_an_error(load_bytes):
    loaded = load_bytes((CORPUS / "jpeg_ff00_header.jpg").read_bytes())
    assert not _is_error(loaded), loaded.findings
    assert loaded.info.decoder == "libjpeg-turbo"


# --- every picture of an MPO ----------------------------------------------------------------


def test_every_picture_of_an_mpo_is_decoded_strictly(load_bytes):
    """An MPO is a JPEG (sniffed so, named .jpg by cameras and phones); its pictures are too."""
    loaded = load_bytes(mpo_bytes(), "pair.jpg")
    assert loaded.findings == []
    assert (loaded.info.format, loaded.info.decoder, loaded.info.frames) == ("JPEG", "libjpeg-turbo", 2)


def test_an_mpo_with_its_second_picture_cut_is_an_error(load_bytes):
    data = mpo_bytes()
    loaded = load_bytes(data[:-500], "cut.jpg")
    assert codes(loaded.findings) == {"decode:corrupt_data"}
    assert "picture 2" in loaded.findings[0].message


def test_an_mpo_whose_index_points_at_no_picture_is_an_error(load_bytes):
    data = mpo_bytes()
    second = second_picture_at(data)
    loaded = load_bytes(data[:second] + b"\x00" + data[second:], "shifted.jpg")
    assert codes(loaded.findings) == {"decode:corrupt_data"}
    assert "picture 2" in loaded.findings[0].message


def test_damage_in_an_mpos_second_picture_is_caught_as_in_a_jpeg_alone(load_bytes):
    verdicts = []
    for seed in range(10):
        data = mpo_bytes(seed=seed)
        second = second_picture_at(data)
        damaged = flip_entropy_bytes(data[second:], count=3, seed=seed)
        alone = load_bytes(damaged, f"alone{seed}.jpg")
        verdicts.append((_is_error(alone), _is_error(load_bytes(data[:second] + damaged, f"mpo{seed}.jpg"))))
    assert [alone for alone, _ in verdicts] == [in_mpo for _, in_mpo in verdicts]
    assert sum(alone for alone, _ in verdicts) >= 3


def test_an_mpos_second_picture_is_held_to_the_bomb_limit(load_bytes):
    data = mpo_bytes(second_size=(192, 256))
    loaded = load_bytes(data, "big.jpg", cfg=ScanConfig(num_classes=3, max_pixels=20_000))
    assert codes(loaded.findings) == {"decode:decompression_bomb"}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
@pytest.mark.parametrize("name", ["sugarshack.mpo", "frozenpond.mpo"])
def test_camera_mpos_are_clean_with_both_pictures(load_bytes, name):
    loaded = load_bytes((CORPUS / name).read_bytes(), "stereo.jpg")  # .mpo is not a sample extension
    assert loaded.findings == []
    assert loaded.info.frames == 2


def test_jpeg_head_reads_the_header_once_for_every_reader():
    exif = segment(0xE1, b"Exif\x00\x00MM")
    mpf = segment(0xE2, b"MPF\x00II*\x00")
    data = b"\xff\xd8" + exif + mpf + DQT + exif + SOS_HEADER + segment(0xE1, b"Exif\x00\x00after the scan")
    head = jpeg_head(data)
    first = data.index(b"Exif")
    second = data.index(b"Exif", first + 1)
    assert head.exif == ((first, first + 8), (second, second + 8))  # both before the scan, none after
    assert head.multi_picture_index_at == data.index(b"MPF") + 4
    assert jpeg_head(jpeg_bytes()).components == 3
    assert jpeg_head(b"\x89PNG\r\n\x1a\n") == ((), None, None)
