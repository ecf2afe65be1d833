"""False positives of decode:concealed_corruption on clean synthetic graphics, through the scan's loader.

The detector's step check (sanitize/load/dc_grid.py) looks for a shift of one component from one
MCU on; photographs seldom put an edge exactly there, but graphics drawn on a grid do: flat boxes
whose edges fall on MCU boundaries and run to the picture's edge, pages of text with coloured bars,
bar charts, posterised gradients. A reviewer's set of such diagrams gave the first (pixel) detector
15 false positives in about 190 encodings; this measures the current one on a seeded set of its
own kinds, each encoded at a random quality (75-98), subsampling, progressive or not, some grey.
The measured rate is why --concealed stays off by default (docs/checks.md#concealed-jpeg-corruption).

    python benchmarks/concealed_graphics.py --files 1000 --seed 0
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sanitize.config import ScanConfig
from sanitize.load.image import load
from sanitize.model import Sample

Colour = tuple[int, int, int]


def _colour(rng: np.random.Generator) -> Colour:
    red, green, blue = (int(value) for value in rng.integers(0, 256, 3))
    return red, green, blue


def boxes(rng: np.random.Generator, width: int, height: int, grid: int) -> Image.Image:
    """Flat boxes on a `grid`-pixel grid, half of them running to the right edge, some to the bottom."""
    image = Image.new("RGB", (width, height), _colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 12))):
        left, top = int(rng.integers(0, width // grid)) * grid, int(rng.integers(0, height // grid)) * grid
        right = width if rng.random() < 0.5 else left + int(rng.integers(1, 12)) * grid
        bottom = height if rng.random() < 0.3 else top + int(rng.integers(1, 8)) * grid
        draw.rectangle([left, top, right - 1, bottom - 1], fill=_colour(rng))
    return image


def page(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A screenshot-like page: lines of text, a title bar, full-width coloured bands."""
    image = Image.new("RGB", (width, height), (255, 255, 255) if rng.random() < 0.7 else _colour(rng))
    draw = ImageDraw.Draw(image)
    y = int(rng.integers(0, 20))
    if rng.random() < 0.6:
        draw.rectangle([0, 0, width, 32], fill=_colour(rng))
        y = 40
    while y < height - 12:
        if rng.random() < 0.15:
            draw.rectangle([0, y, width, y + int(rng.integers(8, 40))], fill=_colour(rng))
            y += 44
            continue
        words = " ".join(
            "".join(chr(int(c)) for c in rng.integers(97, 123, int(rng.integers(2, 9))))
            for _ in range(int(rng.integers(3, 20)))
        )
        draw.text((int(rng.integers(0, 30)), y), words, fill=(0, 0, 0) if rng.random() < 0.8 else _colour(rng))
        y += int(rng.integers(12, 24))
    return image


def chart(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A bar chart on white, an axis, sometimes a curve."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    bars = int(rng.integers(3, 15))
    wide = width // (bars + 1)
    for i in range(bars):
        top = int(rng.integers(height // 8, height - 10))
        draw.rectangle([i * wide + 8, top, (i + 1) * wide, height - 1], fill=_colour(rng))
    draw.line([(0, height - 1), (width, height - 1)], fill=(0, 0, 0), width=2)
    if rng.random() < 0.5:
        phase = rng.random()
        curve = [(x, int(height / 2 + height / 3 * np.sin(x / 40 + phase))) for x in range(0, width, 8)]
        draw.line(curve, fill=_colour(rng), width=2)
    return image


def posterised(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Gradients quantised to a few levels: flat bands with straight edges."""
    y, x = np.mgrid[0:height, 0:width]
    levels = int(rng.integers(3, 12))
    base = np.stack(
        [
            (x * rng.uniform(0.2, 1) + y * rng.uniform(0, 0.5)) % 256,
            (y * rng.uniform(0.2, 1)) % 256,
            np.full(x.shape, float(rng.integers(0, 256))),
        ],
        axis=-1,
    )
    pixels = np.floor(base / 256 * levels) * (255 / max(levels - 1, 1))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


KINDS: dict[str, Callable[[np.random.Generator, int, int], Image.Image]] = {
    "boxes on a 16-px grid": lambda rng, width, height: boxes(rng, width, height, 16),
    "boxes on an 8-px grid": lambda rng, width, height: boxes(rng, width, height, 8),
    "page": page,
    "chart": chart,
    "posterised": posterised,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="graphics to encode and load (kinds in turn)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print every flagged file's finding")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    config = ScanConfig(num_classes=2, concealed="warn")
    flagged = dict.fromkeys(KINDS, 0)
    made = dict.fromkeys(KINDS, 0)
    with tempfile.TemporaryDirectory() as folder:
        for number in range(args.files):
            kind = list(KINDS)[number % len(KINDS)]
            width, height = int(rng.integers(16, 50)) * 16, int(rng.integers(10, 40)) * 16
            if rng.random() < 0.3:
                width += int(rng.integers(1, 16))  # a partial MCU column
            image = KINDS[kind](rng, width, height)
            if rng.random() < 0.15:
                image = image.convert("L")
            options = {
                "quality": int(rng.choice([75, 85, 90, 95, 98])),
                "subsampling": int(rng.choice([0, 2])),
                "progressive": bool(rng.random() < 0.3),
                "optimize": bool(rng.random() < 0.5),
            }
            path = Path(folder) / f"{number}.jpg"
            image.save(path, "JPEG", **options)
            findings = load(Sample(number, path.name, str(path), "0"), config).findings
            made[kind] += 1
            hits = [finding for finding in findings if finding.code == "concealed_corruption"]
            if hits:
                flagged[kind] += 1
                if args.verbose:
                    print(f"  {kind}, {image.mode} {width}x{height} {options}: {hits[0].message}")
    total = sum(flagged.values())
    print(f"false positives: {total} of {args.files} clean graphics ({100 * total / max(args.files, 1):.1f}%)")
    for kind in KINDS:
        print(f"  {kind:24s} {flagged[kind]:4d} of {made[kind]}")


if __name__ == "__main__":
    main()
