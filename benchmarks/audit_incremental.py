"""How much an incremental `sanitize audit` saves: first audit vs unchanged vs 1% touched.

Generates N tiny images (32x32, half PNG, half JPEG, in 4 ImageFolder classes), then times
three audits against one store: (1) the first, which checks everything, (2) a re-audit with
nothing changed, (3) a re-audit after touching 1% of the files (new mtime, so they are
re-checked). Targets: (1)/(2) >= 20, (3)/(2) <= 2. Tiny images are the hard case for the
first ratio: a full check of them is cheap, so the fixed costs of the re-audit weigh most.

Two runners, each with its own store:
  local      the default: each audit that has something to check starts a local Dask cluster
  scheduler  every audit uses one Dask cluster started once (a nightly job's standing cluster)

    python benchmarks/audit_incremental.py --n 20000
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dask
import numpy as np
from PIL import Image

import sanitize

CLASSES = 4
VARIANTS = 256


def tiny_images() -> list[tuple[str, bytes]]:
    """VARIANTS distinct 32x32 photo-like images, alternately PNG and JPEG."""
    images = []
    for seed in range(VARIANTS):
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[0:32, 0:32]
        base = np.stack([x * 8, y * 8, (x + y) * 4], axis=-1) + rng.normal(0, 12, (32, 32, 3))
        buffer = io.BytesIO()
        kind = ("PNG", ".png") if seed % 2 == 0 else ("JPEG", ".jpg")
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(buffer, format=kind[0])
        images.append((kind[1], buffer.getvalue()))
    return images


def make_dataset(root: Path, n: int) -> list[Path]:
    images = tiny_images()
    for k in range(CLASSES):
        (root / f"class{k}").mkdir(parents=True)
    paths = []
    for i in range(n):
        suffix, data = images[i % VARIANTS]
        path = root / f"class{i % CLASSES}" / f"{i:06d}{suffix}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def timed(run: Callable[[], sanitize.AuditReport], n: int, checked: int) -> float:
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    assert (result.checked, result.report.summary["samples"]["scanned"]) == (checked, n), result.render()
    assert result.report.valid, result.report.render()
    return elapsed


def three_audits(root: Path, paths: list[Path], work: Path, scheduler: str | None) -> tuple[float, float, float]:
    db = work / "audit.sqlite"
    n = len(paths)

    def run() -> sanitize.AuditReport:
        return sanitize.audit(root, db, scheduler=scheduler, out=work / "report")

    first = timed(run, n, n)
    unchanged = timed(run, n, 0)
    touched = paths[::100]  # 1%
    for path in touched:
        status = path.stat()
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    one_percent = timed(run, n, len(touched))
    return first, unchanged, one_percent


def report(name: str, first: float, unchanged: float, one_percent: float) -> None:
    print(
        f"{name:<10} first {first:7.2f} s   unchanged {unchanged:6.3f} s   1% touched {one_percent:6.3f} s"
        f"   first/unchanged {first / unchanged:6.1f}x (target >= 20)"
        f"   1%/unchanged {one_percent / unchanged:5.2f}x (target <= 2)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of images (at least 20,000 for the issue)")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        paths = make_dataset(Path(tmp) / "data", args.n)
        print(f"{args.n:,} images of 32x32 generated in {time.perf_counter() - started:.1f} s; {os.cpu_count()} cores")
        (Path(tmp) / "local").mkdir()
        report("local", *three_audits(Path(tmp) / "data", paths, Path(tmp) / "local", None))
        # the same settings as the embedded cluster (see sanitize/pipeline.py)
        with (
            dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
            LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40) as cluster,
            Client(cluster),
        ):
            (Path(tmp) / "standing").mkdir()
            report(
                "scheduler", *three_audits(Path(tmp) / "data", paths, Path(tmp) / "standing", cluster.scheduler_address)
            )
    print(f"peak RSS: this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
