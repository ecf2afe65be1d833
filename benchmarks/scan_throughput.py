"""Throughput of `sanitize scan` against a plain single-process Pillow decode loop.

Generates N photo-like JPEGs (~500x375, quality 90), then in the same run times:
  (a) a single-process Pillow open()+load() loop over them (the baseline),
  (b) sanitize.scan with every check and the probe, on all cores (default local cluster),
  (c) the same without the probe,
  (d) a scan of a single image on a forced local cluster (a run this small would otherwise be
      forked): the fixed cost of starting and stopping the cluster,
and, with --concealed, (e) the scan of (b) without looking for concealed JPEG corruption (--concealed
off; on by default, the entropy pass then makes the picture itself, and the checks run on it): what
the detector costs; and prints samples/s, the ratios b/a, c/a (and e/a, and b against e) end to end
and with the fixed cost (d) taken out, the probe's cost, the calling process's CPU per image
(resource.getrusage: what one client costs per sample, so how many workers it can feed; with and
without the cluster's start, the imports paid by a warm-up scan first), and peak RSS. With
--workers 1 and then 2, the two runs give the efficiency from 1 to 2 workers.
Machines are noisy: quote the ratios, not the absolute rates.

    python benchmarks/scan_throughput.py --n 10000
"""

from __future__ import annotations

import argparse
import io
import resource
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

import sanitize

CLASSES = 4


def make_jpeg(args: tuple[Path, int]) -> None:
    """A photo-like picture of its own: soft stripes, sensor noise, and a few soft shapes where a photo
    has its objects. Without the shapes, every picture would be the same stripes shifted, which the
    near-duplicate check rightly takes for re-encodes of one another (their perceptual hashes are
    4 bits apart): a throughput benchmark is about clean data."""
    path, seed = args
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:375, 0:500]
    phase = rng.uniform(0, 6.28, 3)
    base = np.stack([127 + 60 * np.sin(x / (40 + 10 * k) + y / 60 + phase[k]) for k in range(3)], axis=-1)
    rows, columns = np.arange(375.0), np.arange(500.0)
    for _ in range(6):
        row, column, radius = rng.uniform(0, 375), rng.uniform(0, 500), rng.uniform(30, 120)
        shape = np.outer(
            np.exp(-((rows - row) ** 2) / (2 * radius**2)), np.exp(-((columns - column) ** 2) / (2 * radius**2))
        )
        base += shape[..., None] * rng.uniform(-90, 90, 3)
    pixels = np.clip(base + rng.normal(0, 14, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    path.write_bytes(buffer.getvalue())


def make_dataset(root: Path, n: int) -> list[Path]:
    paths = [root / f"class{i % CLASSES}" / f"{i:06d}.jpg" for i in range(n)]
    for k in range(CLASSES):
        (root / f"class{k}").mkdir(parents=True, exist_ok=True)
    with Pool() as pool:
        pool.map(make_jpeg, [(p, i) for i, p in enumerate(paths)], chunksize=64)
    return paths


def pillow_loop(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            image.load()
    return len(paths) / (time.perf_counter() - started)


def sanitize_scan(root: Path, n: int, **options) -> tuple[float, float]:
    """(seconds for a whole scan, cluster start and stop included; CPU seconds of this process)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    report = sanitize.scan(root, **options)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert report.summary.samples.scanned == n and report.valid, report.render()
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="number of JPEGs")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions (medians are shown)")
    parser.add_argument("--workers", type=int, default=None, help="local workers (default: one per core)")
    parser.add_argument(
        "--concealed", action="store_true", help="also time (e): the scan with --concealed off (the detector's cost)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        paths = make_dataset(root, args.n)
        for path in paths:  # warm the page cache for every contender alike
            path.read_bytes()
        single = Path(tmp) / "single"
        (single / "class0").mkdir(parents=True)
        (single / "class0" / "one.jpg").write_bytes(paths[0].read_bytes())
        # a one-image scan (a cluster, as the big scans) first pays the imports, once a process
        imports_cpu = sanitize_scan(single, 1, workers=args.workers, scheduler="local")[1]
        baseline, with_probe, without_probe, cpu, concealed = [], [], [], [], []
        for _ in range(args.rounds):  # interleaved, medians: the machine's noise hits all alike
            baseline.append(pillow_loop(paths))
            seconds, client_cpu = sanitize_scan(root, args.n, workers=args.workers)
            with_probe.append(seconds)
            cpu.append(client_cpu)
            without_probe.append(sanitize_scan(root, args.n, workers=args.workers, probe=False)[0])
            if args.concealed:
                concealed.append(sanitize_scan(root, args.n, workers=args.workers, concealed="off")[0])
        fixed, fixed_cpu = sanitize_scan(single, 1, workers=args.workers, scheduler="local")
        base = float(np.median(baseline))
        with_probe, without_probe = float(np.median(with_probe)), float(np.median(without_probe))
        n = args.n
        print(f"images: {n} JPEGs 500x375 q90, workers: {args.workers or 'one per core'}")
        print(f"(a) Pillow open+load, 1 process:      {base:7.0f} images/s (median of {args.rounds})")
        contenders = [
            ("(b) sanitize scan, all checks+probe:", with_probe),
            ("(c) sanitize scan, no probe:", without_probe),
        ]
        if concealed:
            contenders.append(("(e) (b) with --concealed off:", float(np.median(concealed))))
        for name, seconds in contenders:
            rate, steady = n / seconds, n / max(seconds - fixed, 1e-9)
            print(
                f"{name:37s} {rate:7.0f} images/s  ratio {rate / base:.2f}"
                f"  | without the fixed start-up: {steady:7.0f} images/s  ratio {steady / base:.2f}"
            )
        print(f"(d) fixed cost of a scan (cluster start + stop): {fixed:.2f} s")
        client = float(np.median(cpu))
        print(
            f"client CPU (b): {1e6 * client / n:.0f} us per image, cluster start included"
            f"  | without it ({1e3 * fixed_cpu:.0f} ms): {1e6 * (client - fixed_cpu) / n:.0f} us"
            f"  | imports, once a process: {1e3 * (imports_cpu - fixed_cpu):.0f} ms"
        )
        print(f"probe cost: {100 * (with_probe / without_probe - 1):+.1f}% time")
        if concealed:
            off = float(np.median(concealed))
            print(
                f"the concealed-corruption detector (on by default): throughput {100 * (off / with_probe - 1):+.1f}%"
                f" against (e) end to end, {100 * ((off - fixed) / (with_probe - fixed) - 1):+.1f}% without the fixed"
                " start-up"
            )
        print(
            f"peak RSS: client {peak_rss_mb(resource.RUSAGE_SELF):.0f} MB,"
            f" largest worker {peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB"
        )


if __name__ == "__main__":
    main()
