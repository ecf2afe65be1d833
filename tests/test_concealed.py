"""decode:concealed_corruption: JPEG damage strict libjpeg-turbo decodes without a word."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
import pytest
import simplejpeg
from PIL import Image

from sanitize.config import ScanConfig
from sanitize.findings import Severity
from sanitize.load.image import load
from sanitize.load.steps import SUSPICIOUS, read_frame, strongest_step
from sanitize.model import Sample
from tests.conftest import CORPUS, codes, photo, run_cli

CONCEALED = "decode:concealed_corruption"


def encode(pixels: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def silent_flips(
    data: bytes, seed: int, tries: int = 400, mcu: int = 16
) -> Iterator[tuple[bytes, float, tuple[int, int]]]:
    """Single bits flipped in a one-scan JPEG's entropy-coded data that strict decoding accepts: (the file, the
    fraction of pixels a channel of which moves more than 8 levels, (row, column) of the first such mcu x mcu MCU)."""
    start = data.index(b"\xff\xda")
    start += 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    clean = simplejpeg.decode_jpeg(data, fastupsample=True).astype(np.int16)  # no chroma smeared across MCUs
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        position, bit = int(rng.integers(start, len(data) - 2)), int(rng.integers(0, 8))
        if 0xFF in (data[position], data[position - 1], data[position] ^ (1 << bit)):
            continue  # a marker or its stuffing: not entropy-coded data
        damaged = bytearray(data)
        damaged[position] ^= 1 << bit
        try:
            pixels = simplejpeg.decode_jpeg(bytes(damaged), fastupsample=True, strict=True)
        except ValueError:
            continue
        visible = np.abs(pixels.astype(np.int16) - clean).max(axis=2) > 8
        if visible.any():
            first = np.flatnonzero(visible)[0]
            yield (
                bytes(damaged),
                float(visible.mean()),
                (first // visible.shape[1] // 16, first % visible.shape[1] // 16),
            )


def picture(height: int, width: int, seed: int = 1) -> np.ndarray:
    """A photo-like RGB picture: smooth shading, some texture, a little sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x * 200 / width + 30, y * 180 / height + 40, 120 + 40 * np.sin(x / 23 + y / 31)], axis=-1)
    texture = 12 * np.sin(x / 3.1)[..., None] * np.cos(y / 4.3)[..., None]
    return np.clip(base + texture + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


def load_jpeg(tmp_path, data: bytes, config: ScanConfig | None = None):
    path = tmp_path / "sample.jpg"
    path.write_bytes(data)
    return load(Sample(0, "sample.jpg", str(path), "0"), config or ScanConfig(num_classes=2, concealed="warn"))


@pytest.mark.parametrize(
    ("options", "gray", "sampling"),
    [
        ({"quality": 90}, False, ((2, 2), (1, 1), (1, 1))),
        ({"quality": 90, "subsampling": 0}, False, ((1, 1), (1, 1), (1, 1))),
        ({"quality": 75, "progressive": True}, False, ((2, 2), (1, 1), (1, 1))),
        ({"quality": 75}, True, ((1, 1),)),
    ],
)
def test_read_frame_takes_size_and_sampling_from_the_header(options, gray, sampling):
    pixels = photo(40, 72)
    frame = read_frame(encode(pixels[..., 0] if gray else pixels, **options))
    assert (frame.width, frame.height, frame.sampling, frame.restart_interval) == (72, 40, sampling, 0)


def test_read_frame_reads_the_restart_interval_and_refuses_what_is_no_jpeg():
    assert read_frame(encode(photo(40, 72), restart_marker_blocks=6)).restart_interval == 6
    assert read_frame(b"\xff\xd8\xff\xe0\x00") is None
    assert read_frame(b"GIF89a" + bytes(20)) is None


def _grid(seed: int = 0, rows: int = 20, cols: int = 30) -> np.ndarray:
    """DC means of a smooth picture with texture: (rows, cols, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    smooth = np.stack([4 * y + 50 * np.sin(x / 5), -2 * y + x, np.cos(y / 3) * 10], axis=-1)
    return smooth + rng.normal(0, 3, smooth.shape).astype(np.float32)


def _shifted(grid: np.ndarray, row: int, column: int, plane: int, offset: float) -> np.ndarray:
    flat = grid.reshape(-1, grid.shape[2]).copy()
    flat[row * grid.shape[1] + column :, plane] += offset
    return flat.reshape(grid.shape)


def _banded(grid: np.ndarray) -> np.ndarray:
    grid = grid.copy()
    grid[8, :, 0] += 60  # one MCU row of text on white: both its boundaries move, in opposite directions
    return grid


def _steep(grid: np.ndarray) -> np.ndarray:
    grid = grid.copy()
    grid[..., 0] += 12 * np.arange(grid.shape[0], dtype=np.float32)[:, None]  # a strong vertical gradient
    return grid


def _patch(grid: np.ndarray) -> np.ndarray:
    grid = grid.copy()
    grid[6, 20:, 0] += 80  # a bright patch ending at an MCU boundary: a stronger coarse start than a shift
    return grid


def _horizon(grid: np.ndarray) -> np.ndarray:
    grid = grid.copy()
    grid[12:, :, 0] -= 70  # a horizon along a whole MCU boundary
    return grid


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda g: _shifted(g, 7, 11, 0, 25.0), (7, 11, 0, 25.0)),
        (lambda g: _shifted(g, 3, 25, 2, -18.0), (3, 25, 2, -18.0)),
        (lambda g: _shifted(_shifted(g, 14, 4, 0, 30.0), 14, 4, 1, -12.0), (14, 4, 0, 30.0)),
        (lambda g: _shifted(_steep(g), 7, 11, 0, 25.0), (7, 11, 0, 25.0)),
        (lambda g: _shifted(_patch(g), 12, 9, 0, 20.0), (12, 9, 0, 20.0)),
        (lambda g: g, None),
        (_banded, None),
        (_horizon, None),
    ],
    ids=[
        "luma-shift",
        "chroma-shift",
        "desync-shifts-two-planes",
        "shift-on-a-steep-gradient",
        "shift-after-a-stronger-natural-edge",
        "clean",
        "text-line",
        "horizon",
    ],
)
def test_strongest_step_finds_a_dc_shift_where_it_starts_and_nothing_in_a_picture(make, expected):
    for seed in range(3):
        grid = make(_grid(seed))
        step = strongest_step(grid[1:] - grid[:-1], around=1)
        if expected is None:
            assert step is None or step.strength < SUSPICIOUS, step
        else:
            assert (step.row, step.column, step.plane) == expected[:3]
            assert step.offset == pytest.approx(expected[3], abs=4)
            assert step.strength > 3 * SUSPICIOUS


@pytest.mark.parametrize(
    ("options", "mcu"),
    [
        ({"quality": 90}, 16),
        ({"quality": 75, "subsampling": 0}, 8),
        ({"quality": 85, "progressive": True, "optimize": True}, 16),
    ],
    ids=["4:2:0", "4:4:4", "progressive-optimised"],
)
def test_silent_flips_that_damage_a_tenth_of_a_photo_are_found_where_they_start(tmp_path, options, mcu):
    data = encode(picture(192, 256), **options)
    assert codes(load_jpeg(tmp_path, data).findings) == set()
    found = missed = 0
    for damaged, fraction, start in silent_flips(data, seed=0, mcu=mcu):
        if fraction < 0.1 or start[0] == 0:
            continue  # a step in the first MCU row has no row above to step from: not judged
        findings = [f for f in load_jpeg(tmp_path, damaged).findings if f.name == CONCEALED]
        if findings:
            found += 1
            assert findings[0].severity is Severity.WARNING
            where = re.search(r"MCU row (\d+), column (\d+) \(of (\d+)x(\d+)", findings[0].message)
            row, column, cols = int(where[1]), int(where[2]), int(where[4])
            # where the shift starts: inside the damage (which may begin earlier, where the stream went out of step)
            assert row * cols + column >= start[0] * cols + start[1] - 2, (findings[0].message, start)
        else:
            missed += 1
        if found + missed == 12:
            break
    assert found >= 9, (found, missed)  # 2026-11-29: 11, 10 and 9 (before stage 2 searched freely: 8, 10 and 7)


@pytest.mark.parametrize(("concealed", "severities"), [("error", [Severity.ERROR]), ("off", [])])
def test_concealed_error_makes_it_an_error_and_off_does_not_look(tmp_path, concealed, severities):
    data = encode(picture(192, 256), quality=90)
    for damaged, _, _ in silent_flips(data, seed=0):
        if CONCEALED in codes(load_jpeg(tmp_path, damaged).findings):
            loaded = load_jpeg(tmp_path, damaged, ScanConfig(num_classes=2, concealed=concealed))
            assert [f.severity for f in loaded.findings] == severities
            assert loaded.pixels is not None  # judged, not refused: the pixels are still there
            return
    pytest.fail("no flip found")


@pytest.mark.parametrize(
    "options",
    [
        {"quality": 60},
        {"quality": 96, "subsampling": 0},
        {"quality": 80, "progressive": True},
        {"quality": 70, "optimize": True},
        {"quality": 90, "restart_marker_rows": 1},
    ],
)
@pytest.mark.parametrize("picture", ["photo", "gray", "stripes", "horizon"])
def test_clean_jpegs_of_every_kind_are_never_flagged(tmp_path, options, picture):
    pixels = photo(200, 264, seed=3)
    if picture == "gray":
        pixels = pixels[..., 1]
    elif picture == "stripes":  # text lines: bands one MCU row tall
        pixels[(np.arange(200) // 16) % 3 == 1] //= 4
    elif picture == "horizon":  # a bright sky over dark ground, on an MCU boundary, and a tilted one
        pixels[96:] //= 3
        pixels[np.add.outer(np.arange(200), np.arange(264) // 12) > 150] = 20
    assert CONCEALED not in codes(load_jpeg(tmp_path, encode(pixels, **options)).findings)


@pytest.mark.parametrize(
    ("size", "subsampling", "quality"),
    [((85, 102), "444", 30), ((120, 160), "444", 42), ((120, 160), "422", 30), ((120, 160), "422", 42)],
)
def test_a_clean_gradient_banded_by_quantisation_is_not_flagged(tmp_path, size, subsampling, quality):
    """Steps of 2-3 levels on smooth gradients (found by review: 4 of 96 such encodings reached
    strength 7 or more) are the quantisation's banding, not damage: MIN_SHIFT."""
    height, width = size
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1).astype(np.uint8)
    data = simplejpeg.encode_jpeg(pixels, quality=quality, colorsubsampling=subsampling)
    assert CONCEALED not in codes(load_jpeg(tmp_path, data).findings)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_no_valid_jpeg_of_the_shared_corpus_is_flagged(tmp_path):
    judged = 0
    for path in sorted(CORPUS.glob("*.jp*g")):
        loaded = load(Sample(0, path.name, str(path), "0"), ScanConfig(num_classes=2, concealed="warn"))
        assert CONCEALED not in codes(loaded.findings), path.name
        judged += loaded.pixels is not None
    assert judged >= 20


def test_the_cli_warns_by_default_looks_not_when_off_and_fails_the_flip_with_concealed_error(tmp_path):
    data = encode(picture(192, 256), quality=90)
    damaged = next(d for d, _, _ in silent_flips(data, seed=0) if CONCEALED in codes(load_jpeg(tmp_path, d).findings))
    (tmp_path / "data" / "cat").mkdir(parents=True)
    (tmp_path / "data" / "cat" / "0.jpg").write_bytes(damaged)
    (tmp_path / "data" / "cat" / "1.jpg").write_bytes(data)
    scan = ("scan", str(tmp_path / "data"), "--scheduler", "synchronous", "--no-probe")
    off = run_cli(*scan, "--concealed", "off", cwd=tmp_path)
    assert off.returncode == 0 and CONCEALED not in off.stdout, off.stdout + off.stderr
    warned = run_cli(*scan, cwd=tmp_path)  # a warning by default: the gate still passes
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert CONCEALED in warned.stdout
    strict = run_cli(*scan, "--concealed", "error", cwd=tmp_path)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "cat/0.jpg" in strict.stdout
    wrong = run_cli(*scan, "--concealed", "loud", cwd=tmp_path)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "--concealed" in wrong.stderr


def test_the_report_counts_how_jpegs_were_looked_at_and_says_when_by_pixels_alone(tmp_path, monkeypatch):
    """summary.json's `concealed` counts JPEGs by the look they got; where the compiled decoder is
    missing (no C compiler at install), the terminal report says the pixels judged them alone."""
    import sanitize
    from sanitize.load import entropy

    (tmp_path / "data" / "cat").mkdir(parents=True)
    for number in range(3):
        (tmp_path / "data" / "cat" / f"{number}.jpg").write_bytes(encode(picture(96, 128, seed=number), quality=90))
    Image.fromarray(photo()).save(tmp_path / "data" / "cat" / "photo.png")  # no JPEG: not looked at
    report = sanitize.scan(tmp_path / "data", scheduler="synchronous", probe=False)
    assert report.summary.concealed == {"entropy pass": 3} and "pixels alone" not in report.render()
    monkeypatch.setattr(entropy, "_entropy", None)
    report = sanitize.scan(tmp_path / "data", scheduler="synchronous", probe=False)
    assert report.summary.concealed == {"pixels": 3}
    assert "concealed JPEG corruption: 3 JPEGs judged from their pixels alone" in report.render()
