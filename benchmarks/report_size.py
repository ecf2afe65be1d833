"""How large report.html gets: a scan of N samples of which 1% are bad, and the page's size.

Generates N samples in a list file over 1,000 classes (ImageNet's count, so the class plot has
1,000 bars): the clean ones hard links to 100 distinct 224x224 JPEGs (so generating them is
cheap; each is still read and decoded), the bad ones (--bad, 1% by default) of five kinds in
fixed shares: truncated JPEGs (decode:corrupt_data, shown as bytes), HTML saved as .jpg
(format:not_an_image, bytes), PNGs named .jpg (format:extension_mismatch, a thumbnail), labels
out of range (label:out_of_range, a thumbnail) and missing files (paths:missing, no preview).
Scans it once, then prints the size of every report file, the gallery's cards and thumbnails,
and the time `sanitize report` takes to draw the page again.

    python benchmarks/report_size.py --n 100000
"""

from __future__ import annotations

import argparse
import io
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import sanitize

CLASSES = 1000
#: The kinds of bad sample and their shares of the bad ones.
SHARES = {"truncated": 0.25, "html": 0.15, "png_named_jpg": 0.2, "bad_label": 0.3, "missing": 0.1}


def _photo(seed: int, fmt: str) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:224, 0:224]
    base = np.stack([x + seed % 97, y * 1.1, (x + y) / 2], axis=-1) + rng.normal(0, 10, (224, 224, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(
        buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {})
    )
    return buffer.getvalue()


def generate(root: Path, n: int, bad_fraction: float) -> Path:
    (root / "clean").mkdir(parents=True)
    (root / "bad").mkdir()
    originals = []
    for seed in range(100):
        originals.append(root / f"clean/original_{seed}.jpg")
        originals[-1].write_bytes(_photo(seed, "JPEG"))
    bad = round(n * bad_fraction)
    kinds = [kind for kind, share in SHARES.items() for _ in range(round(bad * share))]
    lines = []
    for index, kind in enumerate(kinds):
        name = f"bad/{kind}_{index}.jpg"
        if kind == "truncated":
            data = _photo(index, "JPEG")
            (root / name).write_bytes(data[: len(data) // 3])
        elif kind == "html":
            (root / name).write_bytes(b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>portal</body>")
        elif kind == "png_named_jpg":
            (root / name).write_bytes(_photo(index, "PNG"))
        elif kind == "bad_label":
            os.link(originals[index % 100], root / name)
        lines.append(f"{name} {CLASSES + 5 if kind == 'bad_label' else index % CLASSES}")
    for index in range(n - len(lines)):
        name = f"clean/{index}.jpg"
        os.link(originals[index % 100], root / name)
        lines.append(f"{name} {index % CLASSES}")
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    return root / "train.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="samples in all")
    parser.add_argument("--bad", type=float, default=0.01, help="fraction of bad samples")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        listing = generate(Path(folder) / "data", args.n, args.bad)
        out = Path(folder) / "report"
        started = time.perf_counter()
        report = sanitize.scan(listing, out=out, num_classes=CLASSES, probe=False)
        scanned = time.perf_counter() - started
        started = time.perf_counter()
        sanitize.render_report(out)
        drawn = time.perf_counter() - started
        page = (out / "report.html").read_text()
        print(f"{args.n:,} samples, {report.summary.samples.with_errors:,} with errors; scan {scanned:.1f} s")
        for path in sorted(out.iterdir()):
            print(f"  {path.name:<15} {path.stat().st_size / 1024:10,.1f} KiB")
        print(
            f"  gallery: {page.count('<article')} cards, {len(re.findall('data:image/jpeg', page))} thumbnails;"
            f" `sanitize report` drew it again in {drawn:.2f} s"
        )


if __name__ == "__main__":
    main()
