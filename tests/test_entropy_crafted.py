"""The compiled entropy decoder (sanitize/load/_entropy.c) on crafted JPEGs its differential fuzzing
with Pillow's encodings does not reach: its 1/8 picture must be strict libjpeg-turbo's exactly, or not
be made (sanitize/load/image.py then decodes with libjpeg-turbo itself), and what a hostile header
costs it must stay bounded by the file's size."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from PIL import Image

from sanitize.load import entropy
from tests.test_entropy import (
    AC_SYMBOLS,
    DC_SYMBOLS,
    Writer,
    _encoding,
    _encoding_pixels,
    _huffman_segment,
    _quiet_header,
    _strict_eighth,
)

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


def _declaring(width: int, height: int, **options: object) -> bytes:
    """A 16x16 JPEG whose frame header declares width x height: a few hundred bytes for millions of blocks."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, "JPEG", **options)
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc2" if options.get("progressive") else b"\xff\xc0")
    data[frame + 5 : frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_a_tiny_sequential_file_declaring_millions_of_blocks_is_not_decoded():
    """Its data runs out after a few blocks, which strict libjpeg-turbo refuses at once; decoding the rest
    as zeros took 0.5 s and 130 MB for a 634-byte file declaring 9400x9400 (under the default --max-pixels),
    and 21 s for one declaring 60277x49243 (with --max-pixels raised). Each block takes 2 bits at least,
    so more than 4 blocks a byte of file are not decoded."""
    data = _declaring(9400, 9400, subsampling=0)
    assert len(data) < 1000 and _strict_eighth(data) is None
    started = time.perf_counter()
    assert entropy.entropy_decode(data, eighth=True) is None
    assert time.perf_counter() - started < 0.05
    assert entropy.entropy_decode(_declaring(16, 16, subsampling=0)) is not None


@pytest.mark.parametrize("subsampling", [0, 2], ids=["4:4:4", "4:2:0"])
def test_a_second_scan_in_a_single_scan_jpeg_gets_no_picture_of_ours(subsampling):
    """A baseline JPEG whose first scan holds every component has no other scan: libjpeg-turbo stops at
    a second one ("Didn't expect more than one scan", jdinput.c consume_markers), even a copy of the
    first, which this decoder reads without an event."""
    buffer = io.BytesIO()
    Image.fromarray(_encoding_pixels()).save(buffer, "JPEG", quality=90, subsampling=subsampling)
    data = buffer.getvalue()
    scan, end = data.index(b"\xff\xda"), data.rindex(b"\xff\xd9")
    twice = data[:end] + data[scan:end] + b"\xff\xd9"
    assert _quiet_header(twice) and _strict_eighth(twice) is None
    assert entropy.entropy_decode(data, eighth=True).eighth is not None
    decoded = entropy.entropy_decode(twice, eighth=True)
    assert decoded is None or decoded.eighth is None


def test_nothing_after_a_second_scan_of_a_single_scan_jpeg_is_decoded():
    """libjpeg-turbo stops there, and so does this decoder: each such scan header (10 bytes) would have
    it decode every block of the picture again (1.4 s for 10 kB of them on a 500x500 frame)."""
    buffer = io.BytesIO()
    Image.fromarray(_encoding_pixels()).convert("L").save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    scan, end = data.index(b"\xff\xda"), data.rindex(b"\xff\xd9")
    garbage = data[scan : scan + 10] + b"\xfe" * 40  # a scan header, then data that is no code
    assert entropy.entropy_marks(data[:scan] + garbage + b"\xff\xd9")  # as the file's scan: marks
    assert entropy.entropy_marks(data[:end] + garbage * 500 + b"\xff\xd9") == []  # after the first: not read


def test_a_progressive_jpeg_of_thousands_of_scans_is_not_judged_and_costs_little():
    """Each scan goes over every block of its components again: 1,000 repeated DC refinement scans of a
    10 kB file took 4.3 s (found by review, 2026-11-29). Past 100 scans the file is not judged."""
    buffer = io.BytesIO()
    Image.fromarray(_encoding_pixels(2, 64, 64)).save(buffer, "JPEG", quality=90, progressive=True)
    data = buffer.getvalue()
    assert entropy.entropy_decode(data) is not None
    refine = b"\xff\xda\x00\x0c\x03\x01\x00\x02\x00\x03\x00\x00\x00\x10" + b"\x00" * 8  # Ah=1, Al=0, DC
    many = data[:-2] + refine * 1000 + b"\xff\xd9"
    started = time.perf_counter()
    assert entropy.entropy_decode(many) is None
    assert time.perf_counter() - started < 0.5


def _component_scan(ident: int, blocks: int, ac: int) -> bytes:
    """A sequential scan of component `ident` alone: `blocks` blocks of DC 0 and, unless `ac` is 0, that
    value as their first AC coefficient."""
    writer = Writer()
    for _ in range(blocks):
        (writer.dc(0).ac(0, ac) if ac else writer.dc(0)).eob()
    body = bytes([1, ident, 0x00, 0, 63, 0])
    return b"\xff\xda" + (2 + len(body)).to_bytes(2, "big") + body + writer.data()


def test_a_sequential_component_scanned_twice_gets_no_picture_of_ours():
    """A sequential 4:2:0 JPEG of one scan a component, then a second scan of its blue chroma without AC
    values: libjpeg-turbo decodes it silently, keeping the first scan's AC values where the second has 0
    (jdcoefct.c consume_data writes into blocks it never clears); a picture made from the second scan
    alone differed (found by review, 2026-11-29)."""
    quant = b"\xff\xdb" + (67).to_bytes(2, "big") + b"\x00" + bytes([1]) * 64
    frame = bytes([8, 0, 128, 0, 128, 3, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0])  # 128 x 128, 4:2:0
    tables = _huffman_segment(0, 0, DC_SYMBOLS, 4) + _huffman_segment(1, 0, AC_SYMBOLS, 5)
    head = b"\xff\xd8" + quant + b"\xff\xc0" + (2 + len(frame)).to_bytes(2, "big") + frame + tables
    scans = _component_scan(1, 256, 200) + _component_scan(2, 64, 200) + _component_scan(3, 64, 200)
    once = head + scans + b"\xff\xd9"
    twice = head + scans + _component_scan(2, 64, 0) + b"\xff\xd9"
    for data in (once, twice):
        assert _strict_eighth(data) is not None  # decoded without a word
    assert (entropy.entropy_decode(once, eighth=True).eighth == _strict_eighth(once)).all()
    assert entropy.entropy_decode(twice, eighth=True).eighth is None


@pytest.mark.parametrize(
    ("step_check", "error"),
    [
        ([0.6, 0.8, 4, 6, 12, 0.7], TypeError),  # a list
        ("0.6", TypeError),
        ((0.6, 0.8, 4, 6, 12), TypeError),  # one short
        ((0.6, 0.8, 4, 6, 12, 0.7, 1), TypeError),
        (("a", 0.8, 4, 6, 12, 0.7), TypeError),
        ((0.6, 0.8, 4.5, 6, 12, 0.7), TypeError),
        ((0.6, 0.8, 1, 6, 12, 0.7), ValueError),  # min_rows under 2
        ((0.6, 0.8, 4, 6, 0, 0.7), ValueError),  # no candidate
        ((0.6, 0.8, 2**40, 6, 12, 0.7), OverflowError),
    ],
)
def test_a_bad_step_check_raises_an_ordinary_error(step_check, error):
    """The compiled decoder's arguments are checked: a bad step_check raises (not SystemError, which
    CPython keeps for its own misuse, nor a crash)."""
    data = _encoding(1, quality=90)
    with pytest.raises(error):
        entropy.entropy_decode(data, step_check=step_check)


def _progressive_420_at_the_limits() -> bytes:
    """A progressive 4:2:0 JPEG of 128 x 128 at the limits of its values: 16-bit quantisation steps of
    65535, the chroma's DC differences of 32767 (their sum held at 2^17) and its first AC coefficient
    32767, both shifted left by Al = 13. Huffman tables of every DC size in 5-bit codes, and of the AC
    symbols 0x00, 0x0F and 0x01 in 2-bit codes."""

    def scan(members: list[int], band: tuple[int, int], bits: str) -> bytes:
        body = bytes([len(members)]) + b"".join(bytes([m, 0]) for m in members) + bytes([*band, 13])
        bits += "1" * (-len(bits) % 8)
        data = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
        return b"\xff\xda" + (2 + len(body)).to_bytes(2, "big") + body + data

    largest = format(15, "05b") + format(32767, "015b")  # a DC code of size 15, then +32767
    quant = b"\xff\xdb" + (131).to_bytes(2, "big") + b"\x10" + b"\xff\xff" * 64
    frame = bytes([8, 0, 128, 0, 128, 3, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0])
    tables = _huffman_segment(0, 0, list(range(17)), 5) + _huffman_segment(1, 0, [0x00, 0x0F, 0x01], 2)
    head = b"\xff\xd8" + quant + b"\xff\xc2" + (2 + len(frame)).to_bytes(2, "big") + frame + tables
    dc = scan([1, 2, 3], (0, 0), ("00000" * 4 + largest * 2) * 64)  # an MCU: 4 luma blocks, Cb, Cr
    ac = scan([2], (1, 1), ("01" + format(32767, "015b")) * 64)  # Cb's coefficient 1
    return head + dc + ac + b"\xff\xd9"


def test_a_hostile_progressive_file_decodes_without_undefined_behaviour(tmp_path):
    """Built with UBSan, which stops at the first undefined behaviour: the 2x2 IDCT of such a file's
    chroma overflowed its 64-bit sums (a crash, or worse, under another compiler; found by review,
    2026-11-29); it is now made for a quiet file only, whose values are in range."""
    gcc, source = shutil.which("gcc"), Path(entropy.__file__).parent
    if gcc is None:
        pytest.skip("no gcc for a sanitised build")
    module, sample = tmp_path / "_entropy.so", tmp_path / "hostile.jpg"
    build = [gcc, "-O1", "-fsanitize=undefined", "-fno-sanitize-recover=undefined", "-static-libubsan"]
    build += ["-std=c11", "-fPIC", "-shared", f"-I{sysconfig.get_paths()['include']}", "-o", str(module)]
    build += [str(source / "_entropy.c"), str(source / "_grid_step.c"), "-lm"]
    if subprocess.run(build, capture_output=True).returncode != 0:
        pytest.skip("gcc cannot build with UBSan here")
    sample.write_bytes(_progressive_420_at_the_limits())
    script = (
        "import importlib.util as u, sys; s = u.spec_from_file_location('_entropy', sys.argv[1]);"
        " m = u.module_from_spec(s); s.loader.exec_module(m);"
        " print(sorted(m.decode(open(sys.argv[2], 'rb').read(), eighth=True)['events']))"
    )
    result = subprocess.run([sys.executable, "-c", script, module, sample], capture_output=True, text=True)
    assert result.returncode == 0 and "runtime error" not in result.stderr, result.stderr
    assert "c_dc_range" in result.stdout  # the file was decoded, and is marked


def test_the_scans_pass_hands_over_its_findings_but_not_the_planes():
    """The scan's pass (concealed.entropy_pass) asks for the step check's result, not the planes'
    arrays, which cost a sixth of the pass on a tiny JPEG; asked for, they are there."""
    import numpy as np

    from sanitize.load.concealed import entropy_pass
    from sanitize.load.entropy import entropy_decode

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (128, 160, 3), dtype=np.uint8)).save(buffer, "JPEG")
    scanned = entropy_pass(buffer.getvalue(), eighth=True)
    assert scanned.step_check is not None and scanned.eighth is not None
    with pytest.raises(ValueError, match="planes"):
        assert scanned.planes is None  # raises first
    assert [plane.dc.shape for plane in entropy_decode(buffer.getvalue()).planes] == [(16, 20), (8, 10), (8, 10)]
