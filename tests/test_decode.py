"""The decode check: every pixel of every frame, strict JPEG, bombs refused from the header."""

from __future__ import annotations

import io
import pickle
import zlib
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from sanitize.config import ScanConfig
from sanitize.load.image import is_benign_jpeg_warning, load
from sanitize.model import Sample
from tests.conftest import (
    bomb_png,
    codes,
    flip_entropy_bytes,
    float_tiff_bytes,
    gif_bytes,
    jpeg_bytes,
    photo,
    png_bytes,
    png_chunk,
    png_chunks,
)


def test_clean_jpeg_is_decoded_by_libjpeg_turbo_downscaled(load_bytes):
    loaded = load_bytes(jpeg_bytes(size=(240, 320)))
    assert loaded.findings == []
    assert loaded.info.decoder == "libjpeg-turbo"
    assert (loaded.info.width, loaded.info.height) == (320, 240)
    assert loaded.pixels.shape == (30, 40, 3)  # DCT-domain 1/8, never below 16 a side


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_jpeg_is_an_error_at_any_depth(load_bytes, fraction):
    data = jpeg_bytes()
    loaded = load_bytes(data[: int(len(data) * fraction)])
    assert "decode:corrupt_data" in codes(loaded.findings)
    assert loaded.pixels is None


def test_strict_jpeg_catches_flipped_entropy_bytes_pillow_conceals(load_bytes):
    caught_strict = caught_pillow = 0
    for seed in range(40):
        damaged = flip_entropy_bytes(jpeg_bytes(seed=seed), count=3, seed=seed)
        if any(f.is_error for f in load_bytes(damaged).findings):
            caught_strict += 1
        try:
            Image.open(io.BytesIO(damaged)).load()
        except OSError:
            caught_pillow += 1
    assert caught_pillow <= 4
    assert caught_strict >= 20


def test_junk_between_header_markers_is_a_warning_with_the_libjpeg_message(load_bytes):
    data = jpeg_bytes()
    dqt = data.index(b"\xff\xdb")
    loaded = load_bytes(data[:dqt] + b"\x00\x00\x00" + data[dqt:])
    assert [(f.code, f.severity.value) for f in loaded.findings] == [("jpeg_warning", "warning")]
    assert "extraneous bytes" in loaded.findings[0].message
    assert loaded.pixels is not None


@pytest.mark.parametrize(
    ("message", "benign"),
    [
        ("Corrupt JPEG data: 4 extraneous bytes before marker 0xdb", True),
        ("Corrupt JPEG data: bad ICC marker", True),
        ("Corrupt JPEG data: 1021 extraneous bytes before marker 0xd9", False),  # scan data ended early
        ("Corrupt JPEG data: 2 extraneous bytes before marker 0xd3", False),  # RST: desynchronised
        ("Corrupt JPEG data: premature end of data segment", False),
    ],
)
def test_only_damage_outside_the_pixel_data_is_benign(message, benign):
    assert is_benign_jpeg_warning(message) is benign


def test_junk_before_a_marker_of_a_progressive_jpeg_is_an_error():
    """Between the scans of a progressive JPEG, junk before a table or scan marker means the
    previous scan's data is broken."""
    message = "Corrupt JPEG data: 255 extraneous bytes before marker 0xc4"
    assert is_benign_jpeg_warning(message, scans=1)
    assert not is_benign_jpeg_warning(message, scans=6)


def test_damaged_progressive_jpegs_are_errors(load_bytes):
    verdicts = Counter()
    for seed in range(30):
        buffer = io.BytesIO()
        Image.fromarray(photo(240, 320, seed=seed)).save(buffer, format="JPEG", quality=90, progressive=True)
        damaged = flip_entropy_bytes(buffer.getvalue(), count=3, seed=seed)
        verdicts[frozenset(f"{f.severity.value}:{f.code}" for f in load_bytes(damaged).findings)] += 1
    assert frozenset({"warning:jpeg_warning"}) not in verdicts
    assert sum(n for v, n in verdicts.items() if "error:corrupt_data" in v) >= 10


def test_a_refused_jpeg_still_records_its_decoder_and_size(load_bytes):
    data = jpeg_bytes(size=(96, 128))
    loaded = load_bytes(data[: len(data) // 2])
    assert (loaded.info.decoder, loaded.info.width, loaded.info.height) == ("libjpeg-turbo", 128, 96)


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_truncated_png_is_an_error(load_bytes, fraction):
    data = png_bytes()
    assert "decode:corrupt_data" in codes(load_bytes(data[: int(len(data) * fraction)], "x.png").findings)


def _corrupt_idat(data: bytes, fix_crc: bool) -> bytes:
    offset, kind, body = next(c for c in png_chunks(data) if c[1] == b"IDAT")
    damaged = bytearray(body)
    damaged[len(body) // 2] ^= 0xFF
    chunk = png_chunk(kind, bytes(damaged))
    if not fix_crc:
        chunk = chunk[:-4] + (zlib.crc32(kind + body) & 0xFFFFFFFF).to_bytes(4, "big")
    return data[:offset] + chunk + data[offset + 12 + len(body) :]


@pytest.mark.parametrize("fix_crc", [False, True], ids=["bad-crc", "crc-fixed"])
def test_corrupt_png_idat_is_an_error(load_bytes, fix_crc):
    loaded = load_bytes(_corrupt_idat(png_bytes(), fix_crc), "x.png")
    assert any(f.check == "decode" and f.is_error for f in loaded.findings)


def test_gif_with_its_last_frame_cut_is_an_error(load_bytes):
    data = gif_bytes(frames=3)
    assert load_bytes(data, "ok.gif").findings == []
    cut = data[: len(data) - 40]
    assert "decode:corrupt_data" in codes(load_bytes(cut, "cut.gif").findings)


def test_every_frame_is_decoded(load_bytes):
    loaded = load_bytes(gif_bytes(frames=4), "anim.gif")
    assert loaded.info.frames == 4


def test_zero_byte_file(load_bytes):
    assert codes(load_bytes(b"", "empty.jpg").findings) == {"decode:empty"}


def test_unidentifiable_bytes(load_bytes):
    loaded = load_bytes(bytes(range(7, 250)) * 4, "noise.png")
    assert "decode:unidentified" in codes(loaded.findings)


def test_decompression_bomb_is_refused_from_the_header(load_bytes):
    loaded = load_bytes(bomb_png(50_000, 50_000), "bomb.png")
    assert codes(loaded.findings) == {"decode:decompression_bomb"}
    assert "2,500,000,000" in loaded.findings[0].message or "2500000000" in loaded.findings[0].message


def test_bomb_limit_is_configurable(load_bytes):
    data = png_bytes(np.zeros((100, 100), np.uint8))
    loaded = load_bytes(data, "small.png", cfg=ScanConfig(num_classes=3, max_pixels=5_000))
    assert codes(loaded.findings) == {"decode:decompression_bomb"}
    assert load_bytes(data, "small2.png").findings == []


def test_a_file_over_the_size_limit_is_never_read(tmp_path, load_bytes):
    """A sparse file of 1 GiB + 1 byte of zeros: read, it would be `unidentified` (after a GiB of
    reading); over the default --max-file-bytes, only its size is looked at."""
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as handle:
        handle.truncate((1 << 30) + 1)
    loaded = load(Sample(0, "huge.png", str(huge), "0"), ScanConfig(num_classes=3))
    assert codes(loaded.findings) == {"decode:too_large"}
    assert "1,073,741,825 bytes, over --max-file-bytes 1,073,741,824" in loaded.findings[0].message
    data = jpeg_bytes()
    assert codes(load_bytes(data, "a.jpg", cfg=ScanConfig(num_classes=3, max_file_bytes=len(data) - 1)).findings) == {
        "decode:too_large"
    }
    assert load_bytes(data, "b.jpg", cfg=ScanConfig(num_classes=3, max_file_bytes=len(data))).findings == []


def test_jpeg_bomb_is_refused_from_the_header(load_bytes):
    loaded = load_bytes(jpeg_bytes(size=(200, 200)), "big.jpg", cfg=ScanConfig(num_classes=3, max_pixels=10_000))
    assert codes(loaded.findings) == {"decode:decompression_bomb"}


def test_float_tiff_keeps_every_value(load_bytes):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    loaded = load_bytes(float_tiff_bytes(array), "f.tif")
    assert loaded.findings == []
    assert loaded.info.mode == "F"
    np.testing.assert_array_equal(loaded.pixels, array)
    assert (loaded.nonfinite.values, loaded.nonfinite.nan) == (12, 0)


def test_npy_is_memory_mapped(tmp_path, load_bytes):
    buffer = io.BytesIO()
    np.save(buffer, np.ones((4, 5), np.float32))
    loaded = load_bytes(buffer.getvalue(), "a.npy")
    assert loaded.findings == []
    assert isinstance(loaded.pixels, np.memmap)


class _Marker:
    """Unpickling this writes a marker file: proof that a pickle was loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_npy_is_refused_and_never_unpickled(tmp_path, load_bytes):
    marker = tmp_path / "UNPICKLED"
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Marker(str(marker))], dtype=object), allow_pickle=True)
    assert not marker.exists()
    pickle.loads(pickle.dumps(_Marker(str(tmp_path / "control"))))  # the marker mechanism works
    assert (tmp_path / "control").exists()
    loaded = load_bytes(buffer.getvalue(), "obj.npy")
    assert codes(loaded.findings) == {"decode:pickled_object"}
    assert not marker.exists()


def test_truncated_npy_is_an_error(load_bytes):
    buffer = io.BytesIO()
    np.save(buffer, np.ones((64, 64), np.float32))
    loaded = load_bytes(buffer.getvalue()[:500], "cut.npy")
    assert codes(loaded.findings) == {"decode:corrupt_data"}


def test_unreadable_path_is_a_finding_not_a_crash(tmp_path, config):
    from sanitize.load.image import load
    from sanitize.model import Sample

    loaded = load(Sample(0, "dir.jpg", str(tmp_path), "0"), config)  # a directory
    assert codes(loaded.findings) == {"decode:unreadable"}


def test_a_bomb_pillow_refuses_at_open_is_reported_against_the_configured_limit(load_bytes):
    loaded = load_bytes(bomb_png(200_000, 200_000), "huge.png")
    assert loaded.findings[0].message.startswith("declares 40,000,000,000 pixels, over the limit of 89,478,485")


@pytest.mark.parametrize("side", [8, 150, 400], ids=["read in one call", "just over one call", "head first"])
def test_a_file_is_read_whole_whatever_its_size(tmp_path, side):
    from sanitize.load.fingerprint import content_digest
    from sanitize.load.image import WHOLE_READ

    pixels = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert (len(data) < WHOLE_READ) == (side == 8)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    loaded = load(Sample(0, "a.png", str(path), "0"), ScanConfig(num_classes=3))
    assert loaded.findings == []
    assert (loaded.digest, loaded.info.size) == (content_digest(data), len(data))
    np.testing.assert_array_equal(loaded.pixels, pixels)


def test_the_rest_of_a_file_is_read_until_a_read_returns_nothing():
    """A read may return less than asked (a network file system; here a pipe fed in pieces) and a
    file may grow after its size was taken: neither cuts the bytes that are judged."""
    import os
    import threading

    from sanitize.load.image import _read_to_end

    reader, writer = os.pipe()
    pieces = [bytes([n]) * 1000 for n in range(50)]

    def feed() -> None:
        for piece in pieces:
            os.write(writer, piece)
        os.close(writer)

    feeding = threading.Thread(target=feed)
    feeding.start()
    try:
        assert _read_to_end(reader, b"head", size=10) == b"head" + b"".join(pieces)
    finally:
        feeding.join()
        os.close(reader)
