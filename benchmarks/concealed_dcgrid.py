"""Statistical checks on the true DC grid (issue 17): can they lift the recall on silent flips past 80%?

The C decoder being written for issue 17 will return, beside the hard entropy-level signals of
benchmarks/concealed_signals.py (a-e), each component's true quantised DC grid (the running sums,
unclamped, at the component's own resolution) and could sum cheap per-block statistics in the same
pass. This measures, on the seeded set of benchmarks/concealed_jpeg.py (same rng calls, same files),
what statistical checks on those would add to the hard signals:

- ``dc1``: today's stage 1 (sanitize/load/steps.py's strongest_step on the MCU means' vertical
  differences) fed with the true DC grid in levels (DC x Q / 8 per block, MCU means) instead of the
  1/8 decode; ``dc1+s2``: the same, confirmed by today's stage 2 (a full-size decode) when stage 1
  reaches SUSPICIOUS;
- ``grid``: sanitize/load/dc_grid.py's dc_grid_step (written here first), on every file: per
  component at its own resolution, block by block at each MCU row boundary, the step from the block
  above's bottom pixel row to the block below's top one less the gradient just inside either
  (today's stage-2 statistic, edge_steps), computed from the DC grid plus two per-block sums an
  entropy decoder can keep (edge_terms: a multiply-add for each nonzero coefficient of a block's
  first column), judged by strongest_step;
  ``grid gated``: the same behind strongest_step's two cheap gates; ``grid, DC only``: the DC grid
  alone (edge terms left out).

A flip counts as caught by what ships when a hard signal or the check fires. Each file is decoded
once by the pure-Python decoder of benchmarks/jpeg_entropy.py into a cache (/tmp/dcgrid-cache, keyed
by a hash of the bytes: true DC grids, nonzero AC counts, sum of |AC| x Q, last nonzero index, the
first row and column of dequantised coefficients, the hard signals that fired); scores are cached
per seed and --version. One process (the decoder is slow: about 1 us a symbol).

    pip install scikit-image   # in the venv, for this script only
    python benchmarks/concealed_dcgrid.py --build 1 3 0 2     # about 2 min a seed
    python benchmarks/concealed_dcgrid.py --report 1 3 0 2    # seconds once built

Thresholds were chosen on the flips of seeds 1 and 3; the clean files of all four seeds (4,800)
and the corpus JPEGs count false positives; seed 0 is the figure to report, as docs/checks.md did.

Measured (2026-11-29, `--clean 1200 --flipped 600`; seed 0: 178 flips damaging > 1%, 142 > 10%;
the hard signals alone 67.4% and 73.2%; recall of check or hard signal, false positives on 4,800
clean files and the 18 corpus JPEGs this decoder reads and judges):

| check | > 1%, seed 0 | > 10%, seed 0 | > 1%, seeds 1 / 3 / 2 | false positives |
|---|---|---|---|---|
| dc1 >= 4 (no confirmation) | 76.4% | 84.5% | 76.9 / 82.0 / 78.9% | 205 (+ 2 corpus) |
| dc1+s2 >= 7 (4.3% of files decoded again) | 75.3% | 83.1% | 75.1 / 78.4 / 76.6% | 0 |
| grid, DC only, >= 12.5 | 70.8% | 77.5% | 68.8 / 72.5 / 71.9% | 0 |
| grid >= 10.5 | 80.3% | 88.7% | 80.3 / 80.2 / 78.9% | 0 (9.5: 1) |
| **grid, 7 (10.5 from 32 levels)** | **82.0%** | **90.8%** | 83.8 / 82.0 / 82.5% | **0** |
| the same, gated | 82.0% | 90.8% | 83.2 / 82.0 / 81.9% | 0 |

dc_grid_step costs about 210 us a file in numpy (100 us gated) on these files, inputs ready.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import simplejpeg

from sanitize.config import ScanConfig
from sanitize.load.dc_grid import GRID_STEP, LARGE_SHIFT, LARGE_STEP, dc_grid_step, whole_mcus
from sanitize.load.entropy import Plane
from sanitize.load.steps import (
    CONCEALED,
    MIN_SHIFT,
    SUSPICIOUS,
    Step,
    edge_steps,
    read_frame,
    strongest_step,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from concealed_jpeg import damage, flagged, make_variant, photographs, silent_flip, test_set_options
from concealed_signals import BASIS, SIGNALS, check_ranges, corpus_jpegs
from jpeg_entropy import NATURAL, Decoder

CACHE = Path("/tmp/dcgrid-cache")
#: EDGE[k, y]: the weight of F(0, v=k) in the mean of pixel row y of a block (and of F(u=k, 0) in
#: column x's): the IDCT separated (T.81 A.3.3), the other axis averaged (sum_x c[0, x] / 8 = 1 / 2 sqrt 2).
EDGE = BASIS / (2 * np.sqrt(2))
#: Weights of F(0, v) in a block's extrapolated top edge level, 1.5 x row 0 - 0.5 x row 1, and in its
#: bottom one, 1.5 x row 7 - 0.5 x row 6: their difference across a boundary is edge_steps' statistic.
TOP, BOTTOM = 1.5 * EDGE[:, 0] - 0.5 * EDGE[:, 1], 1.5 * EDGE[:, 7] - 0.5 * EDGE[:, 6]


def key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def decode_stats(data: bytes) -> dict[str, np.ndarray]:
    """What one entropy pass gives, per component, and the hard signals (a-e) that fired."""
    decoder = Decoder(data)
    check_ranges(decoder)
    fired = sorted({name for (name, _), count in decoder.events.items() if name in SIGNALS and count})
    frame = decoder.frame
    out: dict[str, np.ndarray] = {
        "size": np.array([frame["width"], frame["height"]]),
        "progressive": np.array(frame["progressive"]),
        "fired": np.array(fired, dtype="U32"),
        "sampling": np.array([(c["h"], c["v"]) for c in frame["comps"]]),
        "qdc": np.array([int(decoder.quant[c["tq"]][0]) for c in frame["comps"]]),
    }
    for index, comp in enumerate(frame["comps"]):
        coef, q = comp["coef"], decoder.quant[comp["tq"]]
        nonzero = coef[..., 1:] != 0
        out[f"dc{index}"] = coef[..., 0].astype(np.int32)
        out[f"nnz{index}"] = nonzero.sum(axis=-1).astype(np.uint8)
        out[f"absq{index}"] = (np.abs(coef[..., 1:]) * q[1:]).sum(axis=-1).astype(np.float32)
        last = 63 - np.argmax(nonzero[..., ::-1], axis=-1)
        out[f"last{index}"] = np.where(nonzero.any(-1), last, 0).astype(np.uint8)
        natural = np.zeros(coef.shape, np.int32)
        natural[..., NATURAL] = coef * q.astype(np.int32)
        out[f"col{index}"] = natural[..., ::8]  # F(0, v): the profile of the block's row means
        out[f"row{index}"] = natural[..., :8]  # F(u, 0): the profile of its column means
    return out


def cached(data: bytes) -> dict[str, np.ndarray] | None:
    """decode_stats(data), decoded once and kept in CACHE under a hash of the bytes; None if the
    decoder cannot read it."""
    path = CACHE / f"{key(data)}.v2.npz"
    if not path.exists():
        try:
            found = decode_stats(data)
        except (ValueError, KeyError, IndexError) as error:
            found = {"error": np.array(str(error))}
        np.savez_compressed(path, **found)
    with np.load(path) as loaded:
        found = dict(loaded)
    return None if "error" in found else found


def stats(name: str) -> dict[str, np.ndarray] | None:
    """decode_stats of the cached file whose key is `name`."""
    return cached(CACHE.joinpath(f"{name}.jpg").read_bytes())


def keep(data: bytes, record: dict) -> dict:
    """Cache the file and its statistics; `record` with its key."""
    CACHE.joinpath(f"{key(data)}.jpg").write_bytes(data)
    cached(data)
    return {**record, "key": key(data)}


def build(seed: int, args: argparse.Namespace) -> list[dict]:
    """The seeded set of benchmarks/concealed_jpeg.py, every file cached; an index of records (kind,
    description, key, damage, whether today's pixel detector flags it), kept per seed."""
    index_path = CACHE / f"index-seed{seed}-{args.clean}-{args.flipped}.json"
    if index_path.exists():
        return json.loads(index_path.read_text())
    rng = np.random.default_rng(seed)
    photos = photographs()
    config = ScanConfig(num_classes=2, concealed="warn")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.jpg"
        for number in range(args.clean):
            data, kind = make_variant(rng, photos[number % len(photos)][1])
            pixel = flagged(sample, data, config) is not None
            records.append(keep(data, {"kind": "clean", "desc": kind, "pixel": pixel}))
        for number in range(args.flipped):
            data, kind = make_variant(rng, photos[number % len(photos)][1])
            flipped = silent_flip(rng, data, args.tries)
            if flipped is None:
                continue
            hurt, pixel = damage(data, flipped, args.visible), flagged(sample, flipped, config) is not None
            clean = keep(data, {})["key"]
            records.append(
                keep(flipped, {"kind": "flip", "desc": kind, "clean": clean, "damage": hurt, "pixel": pixel})
            )
        if seed == 0:
            for name, data in corpus_jpegs():
                pixel = flagged(sample, data, config) is not None
                records.append(keep(data, {"kind": "corpus", "desc": name, "pixel": pixel}))
    index_path.write_text(json.dumps(records))
    return records


def edge_terms(col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The AC part of each block's extrapolated top and bottom edge levels, from its dequantised
    first column of coefficients `col` (..., 8): what an entropy decoder can add up in its pass."""
    ac = col[..., 1:].astype(np.float32)
    return ac @ TOP[1:].astype(np.float32), ac @ BOTTOM[1:].astype(np.float32)


def grid_inputs(st: dict) -> tuple[list[Plane], tuple[int, int]]:
    """sanitize.load.dc_grid.dc_grid_step's arguments for a cached file: what _entropy.c gives."""
    planes = [
        Plane(int(h), int(v), int(q), st[f"dc{index}"], *edge_terms(st[f"col{index}"]))
        for index, ((h, v), q) in enumerate(zip(st["sampling"], st["qdc"], strict=True))
    ]
    return planes, (int(st["size"][0]), int(st["size"][1]))


def dc_levels(st: dict) -> np.ndarray | None:
    """(rows, cols, components) MCU means in levels from the true DC grid: DC x Q / 8 per block."""
    planes, size = grid_inputs(st)
    dc, q = [p.dc for p in planes], [p.dc_step for p in planes]
    grid = whole_mcus(planes, size)
    if grid is None:
        return None
    rows, cols, sampling = grid
    planes = [
        dc[index][: rows * v, : cols * h].reshape(rows, v, cols, h).mean(axis=(1, 3)) * (q[index] / 8)
        for index, (h, v) in enumerate(sampling)
    ]
    return np.stack(planes, axis=-1).astype(np.float32)


def stage2(data: bytes, first: Step) -> float:
    """Today's stage 2 after a stage-1 step `first` (as concealed_step runs it): the strength found
    at full size, 0 when its step shifts less than MIN_SHIFT."""
    frame = read_frame(data)
    colorspace = "GRAY" if len(frame.sampling) == 1 else "RGB"
    full = simplejpeg.decode_jpeg(data, colorspace=colorspace, fastdct=True, fastupsample=True, strict=False)
    steps = edge_steps(full, frame)
    if steps is None:
        return 0.0
    found = (strongest_step(steps, around=2, near=first), strongest_step(steps, around=0, gated=False))
    step = max((s for s in found if s is not None), key=lambda s: s.strength, default=None)
    return step.strength if step is not None and abs(step.offset) >= MIN_SHIFT else 0.0


def scores(name: str) -> dict[str, float]:
    """Every check's score on one cached file (0: nothing found) and whether a hard signal fired."""
    st = stats(name)
    if st is None:
        return {"error": 1.0}
    out = {"hard": float(len(st["fired"]) > 0)}
    levels = dc_levels(st)
    if levels is None:
        return out
    first = strongest_step(levels[1:] - levels[:-1], around=0)
    out["dc1"] = first.strength if first is not None else 0.0
    if first is not None and first.strength >= SUSPICIOUS:
        out["dc1+s2"] = stage2(CACHE.joinpath(f"{name}.jpg").read_bytes(), first)
    for check, edges, gated in (
        ("grid", True, False),
        ("grid gated", True, True),
        ("grid, DC only", False, False),
    ):
        found = dc_grid_step(*grid_inputs(st), threshold=0.0, large=(np.inf, 0.0), gated=gated, edges=edges)
        out[check] = found.strength if found else 0.0
    for threshold, shift in RULES:
        for gated in (False, True):
            found = dc_grid_step(*grid_inputs(st), threshold=threshold, large=(shift, LARGE_STEP), gated=gated)
            out[rule(threshold, shift, gated)] = float(found is not None)
    return out


#: (threshold, LARGE_SHIFT) pairs measured for the two-threshold rule.
RULES = ((6.0, LARGE_SHIFT), (GRID_STEP, 25.0), (GRID_STEP, LARGE_SHIFT), (GRID_STEP, 40.0), (8.0, LARGE_SHIFT))


def rule(threshold: float, shift: float, gated: bool) -> str:
    """The name of a two-threshold rule's score."""
    return f"grid{' gated' if gated else ''} {threshold:g}, {LARGE_STEP:g} from {shift:g} levels"


def evaluate(seed: int, args: argparse.Namespace) -> list[dict]:
    """build()'s records with scores() added, cached per seed and --version."""
    path = CACHE / f"scores-{args.version}-seed{seed}-{args.clean}-{args.flipped}.json"
    if path.exists():
        return json.loads(path.read_text())
    records = [{**record, **scores(record["key"])} for record in build(seed, args)]
    path.write_text(json.dumps(records))
    return records


def caught(record: dict, check: str, threshold: float) -> bool:
    """Whether `check` (or, for "a|dc1+s2", either) flags the file."""
    if check.endswith("|dc1+s2"):
        return caught(record, check[: -len("|dc1+s2")], threshold) or caught(record, "dc1+s2", CONCEALED)
    return record.get(check, 0.0) >= threshold


def report(seeds: list[int], args: argparse.Namespace, checks: list[tuple[str, float]]) -> None:
    """Per seed: each check's false positives on clean files and corpus JPEGs (and its largest
    score there), its recall on the flips damaging > 1% and > 10%: alone, with the hard signals
    (what ships), and with those and today's pixel detector."""
    for seed in seeds:
        records = evaluate(seed, args)
        flips = [r for r in records if r["kind"] == "flip"]
        print(f"seed {seed}: {len(flips)} silent flips")
        for kind in ("clean", "corpus"):
            group = [r for r in records if r["kind"] == kind]
            if group:
                cells = [
                    f"{check} >= {threshold:g}: {sum(caught(r, check, threshold) for r in group)}"
                    + ("" if "|" in check else f" (max {max(r.get(check, 0.0) for r in group):.1f})")
                    for check, threshold in checks
                ]
                print(f"  {kind} {len(group)}, false positives: " + ", ".join(cells))
        for label, low in (("> 1%", 0.01), ("> 10%", 0.10)):
            group = [r for r in flips if r["damage"] > low]
            hard = np.array([r.get("hard", 0.0) > 0 for r in group])
            pixel = np.array([r["pixel"] for r in group])
            print(
                f"  damage {label}: {len(group)} flips; hard signals {100 * hard.mean():.1f}%, "
                f"+ today's pixel detector {100 * (hard | pixel).mean():.1f}%"
            )
            for check, threshold in checks:
                hit = np.array([caught(r, check, threshold) for r in group])
                print(
                    f"    {check + ' >= ' + format(threshold, 'g'):28s} alone {100 * hit.mean():5.1f}%, + hard "
                    f"{100 * (hit | hard).mean():5.1f}%, + hard + pixel {100 * (hit | hard | pixel).mean():5.1f}%"
                )
    clean = [r for seed in seeds for r in evaluate(seed, args) if r["kind"] == "clean"]
    sent = np.mean([r.get("dc1", 0.0) >= SUSPICIOUS for r in clean])
    print(f"dc1+s2 decodes {100 * sent:.1f}% of {len(clean)} clean files again at full size")


def grid_cost(seed: int, args: argparse.Namespace, gated: bool, count: int = 300) -> float:
    """Median microseconds of dc_grid_step on the first `count` clean files, inputs ready (what it
    adds to a decoder that hands it the grids and edge terms)."""
    inputs = [grid_inputs(stats(r["key"])) for r in build(seed, args) if r["kind"] == "clean"][:count]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        for item in inputs:
            dc_grid_step(*item, gated=gated)
        times.append((time.perf_counter() - started) / len(inputs))
    return 1e6 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    test_set_options(parser)
    parser.add_argument("--build", type=int, nargs="*", default=[], help="seeds to build and cache")
    parser.add_argument("--report", type=int, nargs="*", default=[], help="seeds to report on")
    parser.add_argument("--version", default="v4", help="names the cached scores: change it when a check changes")
    args = parser.parse_args()
    CACHE.mkdir(exist_ok=True)
    for seed in args.build:
        started = time.perf_counter()
        records = build(seed, args)
        print(f"seed {seed}: {len(records)} records ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.report:
        checks = [("dc1", SUSPICIOUS), ("dc1+s2", CONCEALED), ("grid, DC only", CONCEALED), ("grid, DC only", 12.5)]
        checks += [("grid", threshold) for threshold in (7.0, 8.0, 9.5, LARGE_STEP, 11.0)]
        checks += [("grid gated", LARGE_STEP), ("grid|dc1+s2", LARGE_STEP)]
        checks += [(rule(threshold, shift, False), 1.0) for threshold, shift in RULES]
        checks += [(rule(GRID_STEP, LARGE_SHIFT, True), 1.0), (rule(GRID_STEP, LARGE_SHIFT, False) + "|dc1+s2", 1.0)]
        report(args.report, args, checks)
        for gated in (False, True):
            cost = grid_cost(args.report[0], args, gated)
            print(f"dc_grid_step{' gated' if gated else ''}: {cost:.0f} us a file (300 clean files, inputs ready)")


if __name__ == "__main__":
    main()
