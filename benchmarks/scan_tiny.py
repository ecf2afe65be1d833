"""Tiny images at scale: `sanitize scan` of a long list against a single-process Pillow loop.

Generates distinct tiny images (32x32 and 8x8, PNG and JPEG), one per line of the longest list
(LAION-style lists name millions of small files; a list naming a few thousand files again and
again is now, rightly, a list of duplicates: every line but the first of each file is flagged,
which is not the clean path this measures), and a Caffe list file of --lines lines over them,
each file under one label. Then, in the same run:
  (a) a single-process Pillow open()+load() loop over every line (the baseline),
  (b) `sanitize.scan` of the list with every check and the probe, default runner, each in a
      fresh process (as a training job's gate runs it), for each size in --sizes;
and prints samples/s, the ratio b/a, the calling process's CPU per sample (resource.getrusage:
what one client costs per sample, so how many workers it can feed) and its peak RSS per size
(memory must not grow with the list's length). --concealed off scans without the concealed-corruption
detector (on by default), to show its cost on tiny JPEGs.
Machines are noisy: quote the ratios.

    python benchmarks/scan_tiny.py --lines 300000 --sizes 30000,300000,1000000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = 10

#: Run in a fresh process: the scan, then what it cost that process.
CHILD = """
import json, resource, sys, time
import sanitize
before = resource.getrusage(resource.RUSAGE_SELF)
started = time.perf_counter()
report = sanitize.scan(sys.argv[1], num_classes=int(sys.argv[2]), out=sys.argv[3], concealed=sys.argv[5])
elapsed = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF)
assert report.valid and report.summary.samples.scanned == int(sys.argv[4]), report.render()
print(json.dumps({
    "elapsed": elapsed,
    "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    # VmHWM, not ru_maxrss: the latter starts from the parent's RSS at the fork that made this
    # process (Linux keeps it across exec), and the parent holds a million file names
    "peak_rss_mb": next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024,
    "checked_by": report.summary.runner.checked_by,
}))
"""


def make_file(args: tuple[Path, int]) -> str:
    """Tiny image number i: 32x32 or 8x8 noise, PNG or JPEG."""
    root, i = args
    side = 8 if i % 4 == 3 else 32
    pixels = np.random.default_rng(i).integers(0, 256, (side, side, 3), dtype=np.uint8)
    kind, suffix = ("PNG", "png") if i % 2 else ("JPEG", "jpg")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=kind)
    name = f"img/{i // 10_000:03d}/{i:07d}.{suffix}"
    (root / name).write_bytes(buffer.getvalue())
    return name


def make_files(root: Path, count: int) -> list[str]:
    """`count` distinct tiny images, in folders of 10,000, made on every core."""
    for folder in range(-(-count // 10_000)):
        (root / "img" / f"{folder:03d}").mkdir(parents=True)
    with Pool() as pool:
        return pool.map(make_file, [(root, i) for i in range(count)], chunksize=2048)


def write_list(root: Path, names: list[str], lines: int) -> Path:
    path = root / f"train{lines}.txt"
    with open(path, "w") as handle:
        for i in range(lines):
            handle.write(f"{names[i % len(names)]} {i % CLASSES}\n")
    return path


def pillow_loop(root: Path, names: list[str], lines: int) -> float:
    started = time.perf_counter()
    for i in range(lines):
        with Image.open(root / names[i % len(names)]) as image:
            image.load()
    return lines / (time.perf_counter() - started)


def scan_in_child(listfile: Path, lines: int, out: Path, concealed: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(listfile), str(CLASSES), str(out), str(lines), concealed],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000, help="list lines the ratio is measured on")
    parser.add_argument("--sizes", default="", help="more list lengths to scan for peak RSS, comma-separated")
    parser.add_argument(
        "--concealed", default="warn", help="the scan's --concealed (warn, the default; off: without the detector)"
    )
    args = parser.parse_args()
    sizes = sorted({args.lines, *(int(s) for s in args.sizes.split(",") if s)})
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names = make_files(root, max(sizes))
        baseline = pillow_loop(root, names, args.lines)
        print(f"lines: {args.lines:,}, a distinct tiny file each (32x32 and 8x8, PNG and JPEG)")
        print(f"(a) Pillow open+load, 1 process: {baseline:8.0f} samples/s")
        for lines in sizes:
            listfile = write_list(root, names, lines)
            run = scan_in_child(listfile, lines, root / f"report{lines}", args.concealed)
            rate = lines / run["elapsed"]
            ratio = f"ratio {rate / baseline:.2f}" if lines == args.lines else "          "
            print(
                f"(b) sanitize scan {lines:>9,} lines: {rate:8.0f} samples/s  {ratio}"
                f"  client CPU {1e6 * run['cpu'] / lines:6.1f} us/sample"
                f"  client peak RSS {run['peak_rss_mb']:5.0f} MB  ({run['checked_by']})"
            )
            listfile.unlink()


if __name__ == "__main__":
    main()
