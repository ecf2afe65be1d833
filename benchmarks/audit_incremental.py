"""How much an incremental `sanitize audit` saves: first audit vs unchanged vs 1% touched.

Generates N tiny images (32x32 unless --side; half PNG, half JPEG; 4 ImageFolder classes), then
times (1) the first audit, which checks everything (--first-rounds times, each on a new store),
then --rounds times (2) a re-audit with nothing changed and (3) a re-audit after touching
another 1% of the files (new mtime, so they are re-checked); each is the median over its rounds
(a single run is at the mercy of the machine: +-30% here). Targets: (1)/(2) >= 20, (3)/(2) <= 2. Tiny
images are the hard case for the first ratio: a full check of them is cheap, so the fixed costs
of the re-audit weigh most.

Each audit runs in a fresh process, as a nightly job would; the ratios use the time spent in
sanitize.audit(), and the whole process's time (interpreter start and imports included) and its
peak RSS are printed too. Three runners, each with its own store:
  local        the default: a local Dask cluster for the first audit, forked workers for the
               1% (at most 1,024 samples to check), nothing at all when nothing changed
  scheduler    every audit uses one Dask cluster started once, in another process (a nightly
               job's standing cluster, reached with --scheduler)
  synchronous  --scheduler synchronous: checks in the audit's own process, on one core

    python benchmarks/audit_incremental.py --n 20000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path
from subprocess import PIPE

import numpy as np
from PIL import Image

import sanitize

CLASSES = 4
RUNNERS = ["local", "scheduler", "synchronous"]


def image(args: tuple[int, int]) -> tuple[str, bytes]:
    """Photo-like picture number `seed` (PNG for even seeds, JPEG for odd ones): a gradient, noise and a
    few soft shapes of its own, so no two are duplicates or near duplicates (a set of a few
    hundred pictures repeated was, rightly, all duplicates to the scan: not the path measured)."""
    seed, side = args
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side]
    base = np.stack([x * 127 / side, y * 127 / side, (x + y) * 63 / side], axis=-1)
    axis = np.arange(float(side))
    for _ in range(5):
        row, column, radius = [*rng.uniform(0, side, 2).tolist(), rng.uniform(side / 12, side / 3)]
        shape = np.outer(
            np.exp(-((axis - row) ** 2) / (2 * radius**2)), np.exp(-((axis - column) ** 2) / (2 * radius**2))
        )
        base += shape[..., None] * rng.uniform(-120, 120, 3)
    buffer = io.BytesIO()
    kind = ("PNG", ".png") if seed % 2 == 0 else ("JPEG", ".jpg")
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(buffer, format=kind[0])
    return kind[1], buffer.getvalue()


def make_dataset(root: Path, n: int, side: int) -> list[Path]:
    for k in range(CLASSES):
        (root / f"class{k}").mkdir(parents=True)
    paths = []
    with Pool() as pool:
        for i, (suffix, data) in enumerate(pool.imap(image, [(i, side) for i in range(n)], chunksize=64)):
            path = root / f"class{i % CLASSES}" / f"{i:06d}{suffix}"
            path.write_bytes(data)
            paths.append(path)
    return paths


def audit_once(root: Path, db: Path, out: Path, scheduler: str | None) -> dict:
    """One audit in a fresh process, as a nightly job runs it: (time in sanitize.audit, process
    wall time including interpreter start and imports, samples checked, peak RSS)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(root), str(db), str(out), scheduler or ""],
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(done.stdout.splitlines()[-1])
    return {**measured, "wall": time.perf_counter() - started}


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, which (unlike ru_maxrss) does not carry the parent's over exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(root: str, db: str, out: str, scheduler: str) -> None:
    started = time.perf_counter()
    result = sanitize.audit(root, db, scheduler=scheduler or None, out=out)
    elapsed = time.perf_counter() - started
    assert result.report.valid, result.render()
    print(json.dumps({"seconds": elapsed, "checked": result.checked, "rss_mb": peak_rss_mb()}))


def three_audits(
    root: Path, paths: list[Path], work: Path, scheduler: str | None, rounds: int, first_rounds: int
) -> list[list[dict]]:
    """`first_rounds` first audits (each on a new store), then `rounds` of (an unchanged re-audit,
    a re-audit after touching another 1%) on the last of those stores."""

    def run(db: Path, expect_checked: int) -> dict:
        measured = audit_once(root, db, work / "report", scheduler)
        assert measured["checked"] == expect_checked, measured
        return measured

    first = [run(work / f"audit{k}.sqlite", len(paths)) for k in range(first_rounds)]
    store = work / f"audit{first_rounds - 1}.sqlite"
    unchanged, one_percent = [], []
    for offset in range(rounds):
        unchanged.append(run(store, 0))
        touched = paths[offset::100]  # 1%, a different one each round
        for path in touched:
            status = path.stat()
            os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
        one_percent.append(run(store, len(touched)))
    return [first, unchanged, one_percent]


def report(name: str, runs: list[list[dict]]) -> None:
    first, unchanged, one_percent = (statistics.median(run["seconds"] for run in kind) for kind in runs)
    spread = "-".join(f"{f(run['seconds'] for run in runs[1]):.3f}" for f in (min, max))
    print(
        f"{name:<11} first {first:6.2f} s   unchanged {unchanged:5.3f} s ({spread})   1% touched {one_percent:5.3f} s"
        f"   first/unchanged {first / unchanged:5.1f}x (target >= 20)"
        f"   1%/unchanged {one_percent / unchanged:4.2f}x (target <= 2)"
    )
    first_wall, unchanged_wall, touched_wall = (statistics.median(run["wall"] for run in kind) for kind in runs)
    rss = "   ".join(f"{max(run['rss_mb'] for run in kind):.0f} MB" for kind in runs)
    print(
        f"{'':<11} whole processes (with start-up and imports): {first_wall:.2f} s   {unchanged_wall:.2f} s"
        f"   {touched_wall:.2f} s   first/unchanged {first_wall / unchanged_wall:.1f}x;   peak RSS: {rss}"
    )


#: A standing cluster in its own process, as a nightly job's would be (the embedded cluster's settings).
STANDING_CLUSTER = """
import sys

import dask
from distributed import LocalCluster

from sanitize.pipeline import LOCAL_CLUSTER_CONFIG

with dask.config.set(LOCAL_CLUSTER_CONFIG):
    cluster = LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()
cluster.close()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of images (at least 20,000 for the issue)")
    parser.add_argument("--side", type=int, default=32, help="image width and height in pixels")
    parser.add_argument("--rounds", type=int, default=7, help="unchanged and 1%% re-audits per runner (medians)")
    parser.add_argument("--first-rounds", type=int, default=3, help="first audits per runner, each on a new store")
    parser.add_argument("--runners", nargs="+", choices=RUNNERS, default=RUNNERS, help="which runners to time")
    parser.add_argument("--one", nargs=4, metavar=("ROOT", "DB", "OUT", "SCHEDULER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        root = Path(tmp) / "data"
        paths = make_dataset(root, args.n, args.side)
        generated = time.perf_counter() - started
        print(f"{args.n:,} images of {args.side}x{args.side} generated in {generated:.1f} s; {os.cpu_count()} cores")
        for name in args.runners:
            (Path(tmp) / name).mkdir()
            if name == "scheduler":
                with subprocess.Popen(
                    [sys.executable, "-c", STANDING_CLUSTER], stdin=PIPE, stdout=PIPE, text=True
                ) as cluster:
                    address = cluster.stdout.readline().strip()
                    report(name, three_audits(root, paths, Path(tmp) / name, address, args.rounds, args.first_rounds))
                    cluster.stdin.close()
            else:
                report(
                    name,
                    three_audits(
                        root, paths, Path(tmp) / name, None if name == "local" else name, args.rounds, args.first_rounds
                    ),
                )


if __name__ == "__main__":
    main()
