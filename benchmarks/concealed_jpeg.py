"""Recall and false positives of the concealed-JPEG-corruption detector (decode:concealed_corruption).

Builds its test set reproducibly from real photographs: scikit-image's data module (install it
in the venv for this script only: `pip install scikit-image`) and, when present, the valid
photographs of ../shared/corpus. Each test file is a random crop (50-100% of each side) of one,
rescaled by 0.4-1.0 (no side under 128 pixels), re-encoded by Pillow at quality 60-96, 4:2:0 or 4:4:4 (grey photos as
one-component JPEGs), a third progressive, half with optimised Huffman tables. Then:

- clean: --clean such files go through the scan's loader; any concealed_corruption finding is a
  false positive;
- flipped: for --flipped files, 1-3 random bits of the entropy-coded data are flipped (seeded),
  up to --tries times, until a flip is found that strict libjpeg-turbo decodes without a word
  (as the scan does); the damage is the fraction of pixels that differ "visibly" from the clean
  decode (any channel by more than --visible levels of 255, both decoded full size), and recall
  is reported overall and by damage.

    python benchmarks/concealed_jpeg.py --clean 1200 --flipped 600
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image

from sanitize.config import ScanConfig
from sanitize.load.image import load
from sanitize.load.steps import components, read_frame
from sanitize.model import Sample

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "files"
#: scikit-image's photographs that need no download (the rest of skimage.data is drawings or fetched).
SKIMAGE_PHOTOS = (
    "astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
    "immunohistochemistry", "moon", "page", "retina", "rocket", "text", "clock", "cell",
)  # fmt: skip
CODE = "decode:concealed_corruption"
#: The shortest side of a test file: photographs in datasets; thumbnails have too few MCUs to judge.
MIN_SIDE = 128


def photographs() -> list[tuple[str, np.ndarray]]:
    """(name, uint8 pixels) of every source photograph: scikit-image's, then the corpus's valid JPEGs."""
    import skimage.data

    photos = [(name, getattr(skimage.data, name)()) for name in SKIMAGE_PHOTOS]
    if CORPUS.is_dir():
        for path in sorted(CORPUS.glob("*.jp*g")):
            try:
                pixels = simplejpeg.decode_jpeg(path.read_bytes(), strict=True)
            except ValueError:
                continue
            if min(pixels.shape[:2]) >= 96:
                photos.append((path.name, pixels))
    return photos


def make_variant(rng: np.random.Generator, pixels: np.ndarray) -> tuple[bytes, str]:
    """A random crop, rescale and re-encoding of one photograph, and how it was made."""
    height, width = pixels.shape[:2]
    crop_h, crop_w = (max(MIN_SIDE, int(side * rng.uniform(0.5, 1.0))) for side in (height, width))
    top, left = rng.integers(0, height - min(crop_h, height) + 1), rng.integers(0, width - min(crop_w, width) + 1)
    image = Image.fromarray(pixels[top : top + crop_h, left : left + crop_w])
    scale = max(rng.uniform(0.4, 1.0), MIN_SIDE / min(image.size))
    size = (round(image.width * scale), round(image.height * scale))
    image = image.resize(size, Image.Resampling.LANCZOS)
    quality, progressive, optimize = int(rng.integers(60, 97)), bool(rng.random() < 1 / 3), bool(rng.random() < 0.5)
    subsampling = int(rng.choice([0, 2]))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, subsampling=subsampling, progressive=progressive, optimize=optimize)
    layout = "gray" if image.mode == "L" else ("4:4:4", "", "4:2:0")[subsampling]
    kind = f"{image.width}x{image.height} q{quality} {layout}"
    return buffer.getvalue(), kind + (" progressive" if progressive else "") + (" optimised" if optimize else "")


def entropy_coded(data: bytes) -> np.ndarray:
    """Offsets of the bytes of every scan's entropy-coded data (markers, stuffing and restarts left out)."""
    offsets, pos = [], 2
    while pos + 4 <= len(data):
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
        pos += 2 + length
        if marker != 0xDA:
            continue
        start = pos
        while pos + 1 < len(data) and not (data[pos] == 0xFF and data[pos + 1] not in (0, *range(0xD0, 0xD8))):
            pos += 1
        scan = np.frombuffer(data, np.uint8, count=pos - start, offset=start)
        marker_bytes = (scan == 0xFF) | np.concatenate(([False], scan[:-1] == 0xFF))
        offsets.append(start + np.flatnonzero(~marker_bytes))
    return np.concatenate(offsets)


def silent_flip(rng: np.random.Generator, data: bytes, tries: int) -> bytes | None:
    """`data` with 1-3 bits of its entropy-coded data flipped, so that strict decoding accepts it."""
    offsets = entropy_coded(data)
    for _ in range(tries):
        flipped = bytearray(data)
        for offset in rng.choice(offsets, size=int(rng.integers(1, 4)), replace=False):
            flipped[offset] ^= 1 << int(rng.integers(0, 8))
            if flipped[offset] == 0xFF:
                break
        else:
            try:
                simplejpeg.decode_jpeg(bytes(flipped), min_height=16, min_width=16, strict=True)
            except ValueError:
                continue
            return bytes(flipped)
    return None


def damage(clean: bytes, flipped: bytes, visible: int) -> float:
    """The fraction of pixels that any channel changes by more than `visible` levels (full-size decodes)."""
    a, b = (simplejpeg.decode_jpeg(data, colorspace="RGB").astype(np.int16) for data in (clean, flipped))
    return float((np.abs(a - b).max(axis=-1) > visible).mean())


def miss_classes(clean: bytes, flipped: bytes, progressive: bool, visible: int) -> list[str]:
    """What kind of damage a flip does, for the breakdown of the misses in docs/checks.md: where it
    starts (the first MCU in raster order a change of more than `visible` levels reaches), in which
    planes, whether it is a DC step (a block's mean change dominates its spread) and persists (moves
    at least half the MCUs after its start), on how large a grid, in how busy a picture (median
    one-pixel luma gradient of 8 levels or more). Full-size decodes, without fancy upsampling."""
    frame = read_frame(clean)
    if frame is None:
        return ["header not understood"]
    one = len(frame.sampling) == 1
    a, b = (
        components(simplejpeg.decode_jpeg(data, colorspace="GRAY" if one else "RGB", fastupsample=True))
        for data in (clean, flipped)
    )
    tall, wide = (1, 1) if one else (max(v for _, v in frame.sampling), max(h for h, _ in frame.sampling))
    rows, cols = -(-a.shape[0] // (8 * tall)), -(-a.shape[1] // (8 * wide))
    change = np.zeros((rows * 8 * tall, cols * 8 * wide, a.shape[2]), np.float32)
    change[: a.shape[0], : a.shape[1]] = b - a
    mcus = change.reshape(rows, 8 * tall, cols, 8 * wide, -1)
    moved = np.abs(mcus).max(axis=(1, 3)) > visible  # (rows, cols, planes)
    damaged = moved.any(axis=2).ravel()
    if not damaged.any():
        return ["no visible damage"]
    start = int(np.argmax(damaged))
    row, column = divmod(start, cols)
    means, spreads = mcus.mean(axis=(1, 3)), mcus.std(axis=(1, 3))
    changed = np.abs(means) + spreads > 4
    return [
        label
        for label, true in (
            ("progressive", progressive),
            ("small grid (10 MCUs a side or fewer)", min(rows, cols) <= 10),
            ("starts in the first MCU row", row == 0),
            ("starts in the last two MCU rows", row >= rows - 2),
            ("starts at a row's first MCU", column == 0 and row > 0),
            ("chroma only", moved.shape[2] == 3 and not moved[..., 0].any()),
            ("no DC step (garbage, AC damage)", changed.any() and (np.abs(means) > 2 * spreads)[changed].mean() < 0.5),
            ("does not persist", damaged[start:].mean() < 0.5),
            ("busy texture", np.median(np.abs(np.diff(a[..., 0], axis=1))) >= 8),
        )
        if true
    ] or ["plain step (none of the above)"]


def flagged(path: Path, data: bytes, config: ScanConfig) -> str | None:
    """The message of the scan loader's concealed-corruption finding on this file, or None."""
    path.write_bytes(data)
    loaded = load(Sample(0, path.name, str(path), "0"), config)
    return next((f.message for f in loaded.findings if f.name == CODE), None)


def loader_cost(root: Path, files: list[bytes], config: ScanConfig, rounds: int = 3) -> tuple[float, float]:
    """Seconds per file of the scan's loader over `files` with `config` (the detector on) and with the
    detector off, medians of interleaved rounds: what the detector adds to a worker's time. (With it
    on, its pass over the entropy-coded data makes the picture the scan needs instead of libjpeg-turbo,
    so only the two configurations compare.)"""
    paths = []
    for index, data in enumerate(files):
        paths.append(root / f"{index}.jpg")
        paths[-1].write_bytes(data)
    samples = [Sample(index, path.name, str(path), "0") for index, path in enumerate(paths)]
    configs, timings = {True: config, False: replace(config, concealed="off")}, {True: [], False: []}
    for _ in range(rounds):
        for enabled in (True, False):
            started = time.perf_counter()
            for sample in samples:
                load(sample, configs[enabled])
            timings[enabled].append((time.perf_counter() - started) / len(samples))
    return float(np.median(timings[True])), float(np.median(timings[False]))


def test_set_options(parser: argparse.ArgumentParser) -> None:
    """The options that make the seeded test set (benchmarks/concealed_signals.py builds the same)."""
    parser.add_argument("--clean", type=int, default=1200, help="clean files to check for false positives")
    parser.add_argument("--flipped", type=int, default=600, help="files to flip bits in")
    parser.add_argument("--tries", type=int, default=30, help="flips tried per file for one strict decoding accepts")
    parser.add_argument("--visible", type=int, default=8, help="a pixel is damaged if a channel moves more than this")
    parser.add_argument("--seed", type=int, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    test_set_options(parser)
    parser.add_argument("--verbose", action="store_true", help="print every flagged clean file and missed flip")
    parser.add_argument("--cost", type=int, default=300, help="clean files to time the loader on, with and without")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    photos = photographs()
    config = ScanConfig(num_classes=2, concealed="warn")  # off by default: the detector would never run
    print(f"{len(photos)} source photographs; visible damage: a channel off by more than {args.visible} levels")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.jpg"
        started, false_positives, clean = time.perf_counter(), [], []
        for index in range(args.clean):
            name, pixels = photos[index % len(photos)]
            data, kind = make_variant(rng, pixels)
            clean.append(data)
            if message := flagged(path, data, config):
                false_positives.append(f"{name} {kind}: {message}")
        seconds = time.perf_counter() - started
        print(f"clean: {len(false_positives)} false positives in {args.clean} files ({seconds:.0f} s)")
        if args.verbose:
            print("\n".join(f"  FP {line}" for line in false_positives))
        if args.cost and clean:
            on, off = loader_cost(Path(tmp), clean[: args.cost], config)
            cost = 100 * (on / off - 1)
            print(f"loader: {1e6 * on:.0f} us a file with the detector, {1e6 * off:.0f} without: {cost:+.1f}%")
        results, misses = [], Counter()
        for index in range(args.flipped):
            name, pixels = photos[index % len(photos)]
            data, kind = make_variant(rng, pixels)
            flipped = silent_flip(rng, data, args.tries)
            if flipped is None:
                continue
            hurt = damage(data, flipped, args.visible)
            message = flagged(path, flipped, config)
            results.append((hurt, message is not None))
            if hurt > 0.01 and message is None:
                classes = miss_classes(data, flipped, "progressive" in kind, args.visible)
                misses.update(classes)
                if args.verbose:
                    print(f"  missed {name} {kind}: damage {100 * hurt:.1f}%: {', '.join(classes)}")
    print(f"flipped: {len(results)} of {args.flipped} files had a flip strict decoding accepts")
    hurts = np.array([h for h, _ in results])
    found = np.array([f for _, f in results])
    for label, chosen in (
        ("all silent flips", hurts >= 0),
        ("no visible damage", hurts == 0),
        ("damage <= 1%", (hurts > 0) & (hurts <= 0.01)),
        ("damage > 1%", hurts > 0.01),
        ("damage > 10%", hurts > 0.10),
    ):
        count = int(chosen.sum())
        rate = f"{100 * found[chosen].mean():5.1f}%" if count else "    -"
        print(f"  {label:18s} {count:4d} files, flagged {int(found[chosen].sum()):4d}  recall {rate}")
    print("missed, damage > 1%, by kind (a miss may be of several):")
    for label, count in misses.most_common():
        print(f"  {count:4d}  {label}")


if __name__ == "__main__":
    main()
