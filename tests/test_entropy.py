"""sanitize/load/entropy.py and its compiled decoder: the marks a corrupt entropy-coded stream leaves
that strict libjpeg-turbo decodes without a word.

The JPEGs are written symbol by symbol by a small baseline encoder below, so that each mark is made
on purpose; each case also checks that strict libjpeg-turbo (simplejpeg) accepts the file silently,
which is the point of the mark. The compiled decoder is also checked against its pure-Python
reference, benchmarks/jpeg_entropy.py, on bits flipped in real encodings.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from PIL import Image

from sanitize.config import ScanConfig
from sanitize.load import concealed, entropy
from sanitize.load.entropy import entropy_marks
from sanitize.load.jpeg import read_header
from tests.conftest import CORPUS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

# setup.py builds the decoder wherever a C compiler is; .ci/run fails if it was not built
pytestmark = pytest.mark.skipif(not entropy.available(), reason="sanitize/load/_entropy.c was not built")

#: The symbols of the encoder's own Huffman tables, every code 4 (DC) or 5 (AC) bits long: codes
#: left over (all ones) are no code of the table.
DC_SYMBOLS = list(range(12))
AC_SYMBOLS = [0x00, 0xF0, *range(0x01, 0x0B), 0x51, 0xD1, 0x11, 0x21]


def _huffman_segment(table_class: int, ident: int, symbols: list[int], length: int) -> bytes:
    counts = bytes(len(symbols) if size == length else 0 for size in range(1, 17))
    body = bytes([table_class << 4 | ident]) + counts + bytes(symbols)
    return b"\xff\xc4" + (2 + len(body)).to_bytes(2, "big") + body


def _size(value: int) -> int:
    return abs(value).bit_length()


def _extra(value: int) -> str:
    size = _size(value)
    return format(value if value > 0 else value + (1 << size) - 1, f"0{size}b") if size else ""


class Writer:
    """Bits of a baseline scan: DC differences, AC (run, value) pairs, end of block, runs of 16 zeros."""

    def __init__(self) -> None:
        self.bits: list[str] = []

    def dc(self, difference: int) -> Writer:
        self.bits.append(format(DC_SYMBOLS.index(_size(difference)), "04b") + _extra(difference))
        return self

    def ac(self, run: int, value: int) -> Writer:
        self.bits.append(format(AC_SYMBOLS.index(run << 4 | _size(value)), "05b") + _extra(value))
        return self

    def eob(self) -> Writer:
        return self.raw(format(AC_SYMBOLS.index(0x00), "05b"))

    def zrl(self) -> Writer:
        return self.raw(format(AC_SYMBOLS.index(0xF0), "05b"))

    def raw(self, bits: str) -> Writer:
        self.bits.append(bits)
        return self

    def data(self, padding: str = "1") -> bytes:
        """The entropy-coded bytes, the last one filled with `padding` repeated, 0xFF stuffed (T.81 F.1.2.3)."""
        bits = "".join(self.bits)
        bits += (padding * 8)[: -len(bits) % 8]
        raw = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
        return raw.replace(b"\xff", b"\xff\x00")


def jpeg(scan: bytes, blocks: tuple[int, int], components: int = 1, step: int = 1, tail: bytes = b"") -> bytes:
    """A baseline JPEG of rows x cols 8x8 blocks, 1 (grey) or 3 (YCbCr 4:4:4) components, every
    quantisation step `step`, with `scan` as its entropy-coded data and `tail` after it."""
    rows, cols = blocks
    quant = b"\xff\xdb" + (67).to_bytes(2, "big") + b"\x00" + bytes([step]) * 64
    specs = b"".join(bytes([index + 1, 0x11, 0]) for index in range(components))
    frame = bytes([8]) + (8 * rows).to_bytes(2, "big") + (8 * cols).to_bytes(2, "big") + bytes([components]) + specs
    sof = b"\xff\xc0" + (2 + len(frame)).to_bytes(2, "big") + frame
    tables = _huffman_segment(0, 0, DC_SYMBOLS, 4) + _huffman_segment(1, 0, AC_SYMBOLS, 5)
    sos_body = bytes([components]) + b"".join(bytes([index + 1, 0x00]) for index in range(components)) + b"\x00\x3f\x00"
    sos = b"\xff\xda" + (2 + len(sos_body)).to_bytes(2, "big") + sos_body
    return b"\xff\xd8" + quant + sof + tables + sos + scan + tail + b"\xff\xd9"


def plain(writer: Writer, count: int) -> Writer:
    """`count` ordinary blocks: no DC change, one small AC value."""
    for _ in range(count):
        writer.dc(0).ac(0, 3).eob()
    return writer


def _past_end(writer: Writer) -> Writer:
    """A block whose last run carries the coefficient index past 63: three runs of 16 zeros (to 49), a
    value after 13 more zeros (at 62), then one after 5 more zeros (at 68)."""
    return writer.dc(0).zrl().zrl().zrl().ac(13, 1).ac(5, 1)


# Each case: the scan of a 3x3 grey picture (its fifth block, MCU row 1 and column 1, holds the mark),
# the quantisation step, the padding bits, bytes after the scan, and the mark expected or None. A
# plain block is 16 bits, so the last byte of 9 needs no padding.
CASES = {
    "clean": (lambda: plain(Writer(), 9), 1, "1", b"", None),
    "dc-out-of-range": (lambda: plain(plain(Writer(), 4).dc(1100).eob().dc(-1100).eob(), 3), 1, "1", b"", "c_dc_range"),
    "ac-out-of-range": (lambda: plain(plain(Writer(), 4).dc(0).ac(0, 100).eob(), 4), 16, "1", b"", "b_ac_range"),
    "run-past-63": (lambda: plain(_past_end(plain(Writer(), 4)), 4), 1, "1", b"", "a_past_end"),
    "zeros-then-end": (lambda: plain(plain(Writer(), 4).dc(0).zrl().eob(), 4), 1, "1", b"", "e_zrl_eob"),
    "padding-mixed": (lambda: plain(Writer(), 8).dc(0).eob(), 1, "01", b"", "d_padding"),
    "padding-zeros": (lambda: plain(Writer(), 8).dc(0).eob(), 1, "0", b"", None),  # some cameras' encoders
    "bytes-left": (lambda: plain(Writer(), 9), 1, "1", b"\x5a\x5a", "d_bytes_left"),
}


@pytest.mark.parametrize(("name", "case"), CASES.items(), ids=CASES)
def test_each_mark_is_found_where_it_is_and_libjpeg_decodes_it_silently(name, case):
    build, step, padding, tail, expected = case
    data = jpeg(build().data(padding), (3, 3), step=step, tail=tail)
    simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True)  # raises on any libjpeg warning
    marks = entropy_marks(data)
    assert marks is not None
    assert [mark.name for mark in marks] == ([expected] if expected else [])
    if expected:
        at_the_end = name in ("padding-mixed", "bytes-left")  # found where the data ends
        assert (marks[0].row, marks[0].column, marks[0].shape) == ((2, 2) if at_the_end else (1, 1)) + ((3, 3),)


def test_an_mcu_whose_colour_is_outside_the_rgb_cube_is_a_mark_though_each_value_is_in_range():
    # Y and Cr both high (each DC x 8 = 800, in range): red = Y + 1.402 (Cr - 128) is about 368 levels
    writer = Writer()
    for luma, red in ((0, 0), (0, 0), (100, 100), (-100, -100), (0, 0)):  # DC differences, MCU by MCU
        writer.dc(luma).eob().dc(0).eob().dc(red).eob()
    data = jpeg(writer.data(), (1, 5), components=3, step=8)
    simplejpeg.decode_jpeg(data, strict=True)
    marks = entropy_marks(data)
    assert [(mark.name, mark.row, mark.column) for mark in marks] == [("e_dc_gamut", 0, 2)]


@pytest.mark.parametrize("width", [450, 452])
def test_a_clean_picture_whose_last_mcu_column_is_partial_carries_no_gamut_mark(width):
    """The encoder pads luma and chroma on their own in a partial MCU (dummy blocks copy the last DC;
    the downsampler replicates the last pixels), so there their means cover different pixels: saturated
    stripes and a green last column took a clean file's MCU colour out of the cube."""
    x = np.arange(width)
    pixels = np.zeros((64, width, 3), np.uint8)
    pixels[..., 0] = np.where(x // 3 % 2 == 0, 255, 0)
    pixels[..., 2] = 255 - pixels[..., 0]
    pixels[:, -1] = (0, 255, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    assert entropy_marks(buffer.getvalue()) == []


def test_a_bit_pattern_that_is_no_code_is_a_mark():
    data = jpeg(plain(Writer(), 4).dc(0).raw("1" * 16).raw("0000").data(), (3, 3))
    assert "e_bad_code" in [mark.name for mark in entropy_marks(data)]


def test_restart_markers_that_do_not_match_the_interval_are_a_mark():
    dri = b"\xff\xdd\x00\x04\x00\x03"  # a restart marker every 3 MCUs: 2 expected in 9
    scan = plain(Writer(), 3).data() + b"\xff\xd0" + plain(Writer(), 6).data()  # one of them
    data = jpeg(scan, (3, 3))
    data = data.replace(b"\xff\xc0", dri + b"\xff\xc0", 1)
    assert "e_restarts" in [mark.name for mark in entropy_marks(data)]


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xd8", b"\xff\xd8\xff\xd9", b"not a jpeg at all", jpeg(b"", (0, 3)), jpeg(b"", (3, 3))[:40]],
    ids=["empty", "soi", "soi-eoi", "text", "no-rows", "cut-in-the-header"],
)
def test_what_it_cannot_follow_is_not_judged(data):
    assert entropy_marks(data) is None


def test_12_bit_and_arithmetic_jpegs_are_not_judged():
    data = jpeg(plain(Writer(), 9).data(), (3, 3))
    assert entropy_marks(data.replace(b"\xff\xc0\x00\x0b\x08", b"\xff\xc0\x00\x0b\x0c", 1)) is None
    assert entropy_marks(data.replace(b"\xff\xc0", b"\xff\xc9", 1)) is None


def _encoding_pixels(seed: int = 3, height: int = 150, width: int = 200) -> np.ndarray:
    """A photo-like RGB picture: gradients, a wave, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x, y * 1.5, 128 + 60 * np.sin(x / 9 + y / 13)], axis=-1) + rng.normal(0, 8, (height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _encoding(seed: int, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_encoding_pixels(seed, 96, 128)).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _flipped(data: bytes, rng: np.random.Generator) -> bytes:
    start = data.index(b"\xff\xda")
    start += 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    damaged = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        position = int(rng.integers(start, len(data) - 2))
        if 0xFF not in (damaged[position], damaged[position - 1]):
            damaged[position] ^= 1 << int(rng.integers(0, 8))
    return bytes(damaged)


@pytest.mark.parametrize(
    "options",
    [{"quality": 90}, {"quality": 70, "subsampling": 0}, {"quality": 80, "progressive": True, "optimize": True}],
    ids=["4:2:0", "4:4:4", "progressive"],
)
def test_the_compiled_decoder_agrees_with_its_python_reference(options):
    """Every event and every DC value equal to benchmarks/jpeg_entropy.py's, on a clean encoding and
    on 12 with bits flipped (silent or not: the marks are made either way)."""
    from concealed_signals import check_ranges
    from jpeg_entropy import Decoder

    rng = np.random.default_rng(7)
    clean = _encoding(3, **options)
    compared = 0
    for data in [clean] + [_flipped(clean, rng) for _ in range(12)]:
        try:
            reference = Decoder(data)
        except (ValueError, IndexError, KeyError):
            continue  # a stream the reference cannot follow (a DC size over 16 bits, say)
        compared += 1
        check_ranges(reference)  # b_ac_range, c_dc_range and e_dc_gamut, as concealed_signals counts them
        expected = {name for (name, _), count in reference.events.items() if count and name in entropy.SILENT}
        marks = entropy_marks(data)
        assert {mark.name for mark in marks} == expected
        ours = entropy._entropy.decode(data)
        for component, theirs in zip(ours["components"], reference.frame["comps"], strict=True):
            dc = np.frombuffer(component["dc"], np.int32).reshape(component["rows"], component["cols"])
            assert (dc == theirs["coef"][..., 0]).all()
    assert compared >= 8


def test_the_corpus_jpegs_that_decode_strictly_carry_no_mark():
    if not CORPUS.is_dir():
        pytest.skip("no ../shared/corpus")
    judged = 0
    for path in sorted(CORPUS.glob("*.jp*g")):
        data = path.read_bytes()
        try:
            simplejpeg.decode_jpeg(data, strict=True)
        except ValueError:
            entropy_marks(data)  # broken ones: judged or not, never a crash
            continue
        marks = entropy_marks(data)
        judged += marks is not None
        assert not marks, (path.name, marks)
    assert judged >= 20


def test_without_the_compiled_decoder_the_pixels_are_judged_alone(monkeypatch):
    data = jpeg(CASES["dc-out-of-range"][0]().data(), (3, 3))
    pixels = simplejpeg.decode_jpeg(data, colorspace="GRAY", min_height=3, min_width=3)
    config = ScanConfig(num_classes=2, concealed="warn")
    assert "a DC value" in concealed.concealed_damage(data, pixels, config, entropy.entropy_decode(data)).message
    monkeypatch.setattr(entropy, "_entropy", None)
    assert not entropy.available() and entropy_marks(data) is None
    decoded = entropy.entropy_decode(data)
    assert concealed.concealed_damage(data, pixels, config, decoded) is None  # a 3x3 grid is too small for the step


def _strict_eighth(data: bytes) -> np.ndarray | None:
    """The scan's own strict libjpeg-turbo decode at 1/8 (sanitize/load/image.py), or None where it refuses."""
    try:
        colorspace = simplejpeg.decode_jpeg_header(data)[2]
        return simplejpeg.decode_jpeg(
            data,
            colorspace="GRAY" if colorspace == "Gray" else "RGB",
            fastdct=True,
            fastupsample=True,
            min_height=16,
            min_width=16,
            strict=True,
        )
    except (ValueError, KeyError):
        return None


def _quiet_header(data: bytes) -> bool:
    """Whether libjpeg-turbo reads the header without a warning (sanitize/load/image.py decodes nothing
    else with the entropy pass)."""
    try:
        return read_header(data)[3]
    except (ValueError, KeyError):
        return False


def _mutated(data: bytes, rng: np.random.Generator) -> bytes:
    """One seeded mutation of any part of the file: flipped bits, a changed header byte, a cut, junk
    inserted, a chunk moved."""
    damaged = bytearray(data)
    kind = int(rng.integers(5))
    if kind == 0:
        for _ in range(int(rng.integers(1, 4))):
            damaged[int(rng.integers(2, len(damaged)))] ^= 1 << int(rng.integers(8))
    elif kind == 1:
        damaged[int(rng.integers(2, min(len(damaged), 700)))] = int(rng.integers(256))
    elif kind == 2:
        del damaged[int(rng.integers(len(damaged) // 2, len(damaged))) :]
    elif kind == 3:
        at = int(rng.integers(2, len(damaged)))
        damaged[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8))
    else:
        start, end = sorted(int(i) for i in rng.integers(2, len(damaged), size=2))
        damaged = damaged[:start] + damaged[end:] + damaged[start:end]
    return bytes(damaged)


@pytest.mark.parametrize(
    ("options", "gray"),
    [
        ({"quality": 90}, False),
        ({"quality": 75, "subsampling": 0, "optimize": True}, False),
        ({"quality": 85, "progressive": True}, False),
        ({"quality": 80}, True),
        ({"quality": 70, "progressive": True, "optimize": True}, True),
    ],
    ids=["4:2:0", "4:4:4-optimised", "progressive", "grey", "grey-progressive"],
)
def test_the_eighth_picture_is_libjpegs_exactly_and_only_for_a_file_it_decodes_silently(options, gray):
    """The picture the entropy pass makes replaces the scan's strict decode (with --concealed on, once
    libjpeg-turbo has read the header without a warning): it must be made only where strict
    libjpeg-turbo decodes the file without a word, and equal its pixels."""
    rng = np.random.default_rng(5)
    image = Image.fromarray(_encoding_pixels(5))
    buffer = io.BytesIO()
    (image.convert("L") if gray else image).save(buffer, "JPEG", **options)
    clean = buffer.getvalue()
    made = refused = 0
    for data in [clean] + [_mutated(clean, rng) for _ in range(600)]:
        decoded = entropy.entropy_decode(data, eighth=True) if _quiet_header(data) else None  # as the scan does
        theirs = _strict_eighth(data)
        ours = decoded.eighth if decoded is not None else None
        if ours is not None:
            assert theirs is not None, "a picture made of a file strict libjpeg-turbo refuses"
            assert ours.shape == theirs.shape and (ours == theirs).all()
            made += 1
        refused += theirs is None
    assert entropy.entropy_decode(clean, eighth=True).eighth is not None
    assert made >= 20 and refused >= 50, (made, refused)  # both sides of the line were tried


def test_a_progressive_jpeg_whose_later_scans_are_missing_gets_no_picture_of_ours():
    """libjpeg-turbo decodes it silently, but smooths the blocks whose AC coefficients it lacks
    (jdcoefct.c decompress_smooth_data): a picture from the coefficients alone would differ (found by
    the differential fuzzing of the eighth picture, 2026-11-29)."""
    buffer = io.BytesIO()
    Image.fromarray(_encoding_pixels()).save(buffer, "JPEG", quality=85, progressive=True)
    data = buffer.getvalue()
    second_scan = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    cut = data[:second_scan] + b"\xff\xd9"  # the DC scan only
    assert _strict_eighth(cut) is not None  # decoded without a word
    assert entropy.entropy_decode(cut, eighth=True).eighth is None
    assert entropy.entropy_decode(data, eighth=True).eighth is not None


def test_a_later_scan_header_libjpeg_refuses_gets_no_picture_of_ours():
    """A second scan header whose length claims 4 bytes more than its one component needs: libjpeg-turbo
    stops ("Bogus marker length"); this decoder, past the header libjpeg-turbo has read, must refuse it
    too (found by the differential fuzzing of the eighth picture, 2026-11-29)."""
    buffer = io.BytesIO()
    Image.fromarray(_encoding_pixels()).save(buffer, "JPEG", quality=85, progressive=True)
    data = buffer.getvalue()
    second_scan = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)
    assert data[second_scan + 4] == 1  # one component: a length of 8
    bogus = data[: second_scan + 2] + (12).to_bytes(2, "big") + data[second_scan + 4 :]
    assert _strict_eighth(bogus) is None
    assert _quiet_header(bogus)  # the first scan's header, all libjpeg-turbo reads first, is fine
    decoded = entropy.entropy_decode(bogus, eighth=True)
    assert decoded is None or decoded.eighth is None


def _shifted(planes: list, plane: int, start: tuple[int, int], levels: float) -> list:
    """`planes` with component `plane`'s DC values moved by about `levels` from MCU `start` on, in the
    order the MCUs are decoded: what a wrong DC difference does (T.81 F.1.1.5.1)."""
    from dataclasses import replace

    target = planes[plane]
    dc = target.dc.copy()
    (row, column), offset = start, round(8 * levels / target.dc_step)
    dc[row * target.v : (row + 1) * target.v, column * target.h :] += offset
    dc[(row + 1) * target.v :] += offset
    return [replace(p, dc=dc) if index == plane else p for index, p in enumerate(planes)]


@pytest.mark.parametrize(
    ("options", "plane", "start", "levels"),
    [
        ({"quality": 90}, 0, (5, 7), 20),  # luma of 4:2:0
        ({"quality": 90, "subsampling": 0}, 2, (8, 3), -16),  # red chroma of 4:4:4
        ({"quality": 80, "progressive": True}, 1, (4, 10), 24),  # blue chroma of a progressive 4:2:0
    ],
    ids=["luma-420", "red-chroma-444", "blue-chroma-progressive"],
)
def test_dc_grid_step_finds_a_dc_shift_where_it_starts_and_nothing_in_the_clean_picture(options, plane, start, levels):
    from sanitize.load.dc_grid import dc_grid_step

    buffer = io.BytesIO()
    Image.fromarray(_encoding_pixels(9, 240, 320)).save(buffer, "JPEG", **options)
    decoded = entropy.entropy_decode(buffer.getvalue())
    assert decoded.marks == [] and dc_grid_step(decoded.planes, decoded.size) is None
    step = dc_grid_step(_shifted(decoded.planes, plane, start, levels), decoded.size)
    assert step is not None and (step.row, step.column, step.plane) == (*start, plane)
    assert step.offset == pytest.approx(levels, abs=2)


def test_dc_grid_step_does_not_judge_a_grid_under_4_by_6_mcus():
    from sanitize.load.dc_grid import dc_grid_step

    buffer = io.BytesIO()
    Image.fromarray(_encoding_pixels(9, 48, 320)).save(buffer, "JPEG", quality=90)  # 3 MCU rows
    decoded = entropy.entropy_decode(buffer.getvalue())
    assert dc_grid_step(_shifted(decoded.planes, 0, (1, 5), 40), decoded.size) is None


@pytest.mark.parametrize(
    ("options", "gray"),
    [
        ({"quality": 90}, False),
        ({"quality": 88, "subsampling": 0, "progressive": True}, False),
        ({}, True),
        ({"subsampling": 2}, True),  # one component declared 2x2, as Pillow writes it: still at full size
    ],
    ids=["4:2:0", "4:4:4-progressive", "grey", "grey-2x2"],
)
def test_the_scan_loads_the_same_pixels_with_the_detector_on_decoding_once(tmp_path, options, gray):
    from sanitize.load.image import load
    from sanitize.model import Sample

    image = Image.fromarray(_encoding_pixels(4))
    path = tmp_path / "photo.jpg"
    (image.convert("L") if gray else image).save(path, "JPEG", **options)
    assert entropy.entropy_decode(path.read_bytes(), eighth=True).eighth is not None  # the pass makes the picture
    sample = Sample(0, path.name, str(path), "0")
    off = load(sample, ScanConfig(num_classes=2))
    on = load(sample, ScanConfig(num_classes=2, concealed="warn"))
    assert on.pixels.shape == off.pixels.shape and (on.pixels == off.pixels).all()
    assert (on.info.decoder, on.findings) == (off.info.decoder, off.findings) == ("libjpeg-turbo", [])


@pytest.mark.parametrize(
    "options",
    [{"quality": 90}, {"quality": 75, "subsampling": 0}, {"quality": 85, "progressive": True}, {"gray": True}],
    ids=["4:2:0", "4:4:4", "progressive", "grey"],
)
def test_the_step_check_run_in_c_finds_the_steps_numpy_finds(options):
    """The compiled decoder runs dc_grid.py's step check on the grids it decodes (sanitize/load/_grid_step.c):
    per plane, the start, offset and strength numpy's strongest_step finds, or none where numpy finds
    none, on a clean file and on files with flipped bits; and so the same step reported."""
    from sanitize.load.dc_grid import STEP_CHECK, compiled_grid_step, dc_grid_step, grid_steps, whole_mcus
    from sanitize.load.steps import strongest_step

    rng = np.random.default_rng(11)
    options = dict(options)
    image = Image.fromarray(_encoding_pixels(5, 240, 320))
    buffer = io.BytesIO()
    (image.convert("L") if options.pop("gray", False) else image).save(buffer, "JPEG", **options)
    clean = buffer.getvalue()
    judged = found = reported = 0
    for data in [clean] + [_flipped(clean, rng) for _ in range(40)]:
        decoded = entropy.entropy_decode(data, step_check=STEP_CHECK)
        if decoded is None:
            continue
        rows, cols, sampling = whole_mcus(decoded.planes, decoded.size)
        assert decoded.step_check[:2] == (rows, cols)
        compiled = {plane: found for plane, *found in decoded.step_check[2]}
        for index, (plane, (h, v)) in enumerate(zip(decoded.planes, sampling, strict=True)):
            step = strongest_step(grid_steps(plane, (h, v), (rows, cols)), around=0)
            judged += 1
            if step is None:
                assert index not in compiled
                continue
            found += 1
            row, column, offset, strength = compiled[index]
            assert (row, column) == (step.row, step.column // h)
            assert offset == pytest.approx(step.offset, abs=1e-3) and strength == pytest.approx(step.strength, rel=1e-4)
        step, ours = dc_grid_step(decoded.planes, decoded.size), compiled_grid_step(decoded.step_check)
        assert (ours is None) == (step is None)
        if step is not None:
            assert (ours.row, ours.column, ours.plane, ours.shape) == (step.row, step.column, step.plane, step.shape)
            reported += 1
    assert found > 0 and reported > 0 and judged > found


def test_a_drawn_picture_is_left_to_the_marks_though_its_edges_make_a_step(monkeypatch):
    """A graphic whose flat region starts at an MCU and runs on in raster order is, to the DC grid, a
    DC shift (dc_grid.py DRAWN): most of its block boundaries are flat, so it is not judged by the step
    check, compiled or not; judged, it would be reported where its region starts."""
    from sanitize.load import dc_grid

    pixels = np.full((240, 320), 100, np.uint8)
    pixels[5 * 16 : 6 * 16, 7 * 16 :] = 160  # from MCU row 5, column 7 to the end of the row
    pixels[6 * 16 :] = 160  # and every row below
    buffer = io.BytesIO()
    Image.fromarray(np.stack([pixels] * 3, axis=-1)).save(buffer, "JPEG", quality=90)
    decoded = entropy.entropy_decode(buffer.getvalue(), step_check=dc_grid.STEP_CHECK)
    rows, cols, sampling = dc_grid.whole_mcus(decoded.planes, decoded.size)
    assert dc_grid.drawn(dc_grid.grid_steps(decoded.planes[0], sampling[0], (rows, cols)))
    assert decoded.step_check[2] == [] and dc_grid.dc_grid_step(decoded.planes, decoded.size) is None
    monkeypatch.setattr(dc_grid, "DRAWN", 1.01)  # nothing is drawn
    step = dc_grid.dc_grid_step(decoded.planes, decoded.size)
    assert step is not None and (step.row, step.column, step.plane) == (5, 7, 0)
