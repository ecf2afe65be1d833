"""Would an entropy-level check catch the silent JPEG bit flips of issue 17? A feasibility measurement.

The instrumented JPEG Huffman decoder of benchmarks/jpeg_entropy.py (pure Python, baseline
sequential and progressive, T.81 annex F.2.2 and G.1.2, following libjpeg-turbo's jdhuff.c /
jdphuff.c where the standard leaves the decoder's behaviour open) records, per file and component,
events that a clean encoder never produces but that strict libjpeg-turbo decodes without a warning:

- ``a_past_end``: a run (or ZRL) carries the coefficient index past the scan's last index Se (63 in a
  sequential scan); libjpeg-turbo writes the value through jpeg_natural_order's 16 extra entries,
  i.e. into coefficient 63 (or, in a progressive band, into a coefficient outside the band);
- ``b_ac_range``: an AC coefficient whose dequantised magnitude exceeds the largest |F(u,v)| the FDCT
  (T.81 A.3.3) gives for level-shifted 8-bit samples in [-128, 127], plus half a quantisation step
  (rounding) and SLACK (FDCT arithmetic error);
- ``c_dc_range``: the same for the DC value (the running sum of DC differences): F(0,0) in [-1024, 1016];
- ``d_padding``: the bits left in the last byte after the decoder's last MCU of a restart interval are
  not all ones (the encoder's padding, T.81 F.1.2.3);
- ``d_bytes_left``: whole bytes left after the last MCU. libjpeg-turbo warns about them at a restart
  marker, and about bytes it has not yet read before the next marker, but silently drops the up to
  ~7 bytes already in its bit buffer at the end of a scan; running out of data (``overrun``) warns;
- ``e_zrl_eob``: a ZRL (16 zeros) followed by an end of block: libjpeg's encoders emit ZRL only before
  a nonzero coefficient (jchuff.c encode_one_block, jcphuff.c);
- ``e_eobrun_past_end``: a progressive AC EOB run that runs past the last block of the scan or interval;
- ``e_restarts``: a restart marker count that does not match the restart interval;
- ``e_bad_code``: a bit pattern that is no code of the Huffman table. libjpeg-turbo's slow path
  (jpeg_huff_decode, and all of jdphuff.c) warns, but its fast sequential path (HUFF_DECODE_FAST in
  jdhuff.h) silently takes symbol 0 after 17 bits; this decoder does the same;
- ``e_dc_gamut``: an MCU whose mean colour, computed from the DC values alone, lies outside the RGB
  cube by more than the rounding allows (see Decoder._check_gamut);
- ``e_overshoot``: exploratory, not a bound: the largest excursion of any block's unclamped inverse DCT
  outside [-128, 127], in levels; flagged above OVERSHOOT (chosen by looking at clean files, so biased).

The test set is the one of benchmarks/concealed_jpeg.py with the same seed (same rng calls, same
files): --clean clean variants (false positives) and --flipped flipped ones, of which those that
strict libjpeg-turbo decodes silently are judged; recall is reported per signal and for their union
by damage class. The valid JPEGs of ../shared/corpus are checked for false positives too. The
decoder is first checked against jpeglib's read_dct (same quantised coefficients, every file of the
clean set and the corpus). Finally it times jpeglib.read_dct against simplejpeg's 1/8 decode and
compares the DC-only image (from coefficients) with the 1/8 decode.

    pip install scikit-image jpeglib   # in the venv, for this script only
    python benchmarks/concealed_signals.py --clean 1200 --flipped 600 --jobs 2
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import simplejpeg

from sanitize.config import ScanConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from concealed_jpeg import CORPUS, damage, flagged, make_variant, photographs, silent_flip, test_set_options
from jpeg_entropy import NATURAL, Decoder, ceil

#: FDCT arithmetic error allowed on top of rounding, in units of F(u,v) (libjpeg's islow is within 1).
SLACK = 2.0
#: e_overshoot threshold in levels (exploratory).
OVERSHOOT = 64.0
SIGNALS = (
    "a_past_end", "b_ac_range", "c_dc_range", "d_padding", "d_bytes_left",
    "e_zrl_eob", "e_eobrun_past_end", "e_restarts", "e_bad_code", "e_dc_gamut",
)  # fmt: skip
NOT_SILENT = ("overrun", "refine_size")


def _basis() -> np.ndarray:
    """c[u, x] = C(u)/2 cos((2x+1) u pi / 16): F(u,v) = sum_xy f(x,y) c[u,x] c[v,y] (T.81 A.3.3)."""
    u, x = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    return np.where(u == 0, 1 / np.sqrt(2), 1.0) / 2 * np.cos((2 * x + 1) * u * np.pi / 16)


BASIS = _basis()


def fdct_bounds(precision: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) F(u,v) over all blocks of level-shifted samples, in zigzag order: the extreme
    sample pattern puts the top sample where the basis product is positive and the bottom one where it
    is negative (the FDCT is linear, so each extreme is reached at a corner of the sample cube)."""
    top, bottom = 2 ** (precision - 1) - 1, -(2 ** (precision - 1))
    products = np.einsum("vy,ux->vuyx", BASIS, BASIS).reshape(64, 64)  # [8v+u, 8y+x]
    positive, negative = np.where(products > 0, products, 0).sum(1), np.where(products < 0, products, 0).sum(1)
    highest = top * positive + bottom * negative
    lowest = bottom * positive + top * negative
    return lowest[NATURAL], highest[NATURAL]


def check_ranges(decoder: Decoder) -> float:
    """Count b/c range events per component; return the largest unclamped IDCT overshoot."""
    lowest, highest = fdct_bounds(decoder.frame["precision"])
    overshoot = 0.0
    for ci, c in enumerate(decoder.frame["comps"]):
        q = decoder.quant[c["tq"]]
        coef = c["coef"][: c["bh"], : c["bw"]].reshape(-1, 64).astype(np.int64)
        value = coef * q
        over = (value - q / 2 > highest + SLACK) | (value + q / 2 < lowest - SLACK)
        if over[:, 0].any():
            decoder.events["c_dc_range", ci] += int(over[:, 0].sum())
        if over[:, 1:].any():
            decoder.events["b_ac_range", ci] += int(over[:, 1:].sum())
        natural = np.zeros((len(coef), 64))
        natural[:, NATURAL] = value
        pixels = np.einsum("vy,nvu,ux->nyx", BASIS, natural.reshape(-1, 8, 8), BASIS, optimize=True)
        excess = np.maximum(pixels - 127.5, -128.5 - pixels).max(initial=0)
        overshoot = max(overshoot, float(excess))
    check_gamut(decoder)
    return overshoot


def check_gamut(decoder: Decoder) -> None:
    """e_dc_gamut: the mean colour of a whole MCU, from the DC values alone (a block's mean is its DC
    x Q / 8 + 128), must lie in the RGB cube: the encoder's samples did (T.871 conversion), chroma
    downsampling averages in-range colours, and each mean is off by at most half a DC step / 8, plus
    rounding (0.5 a conversion, 0.5 downsampling, 0.25 FDCT). Only for YCbCr. Partial MCUs (the last
    column and row when the picture does not fill them) are left out: the encoder pads each component
    on its own there, so luma and chroma means cover different pixels."""
    comps = decoder.frame["comps"]
    if len(comps) != 3 or decoder.adobe_transform == 0 or [c["id"] for c in comps] == list(b"RGB"):
        return
    wide, tall = max(c["h"] for c in comps), max(c["v"] for c in comps)
    whole = (decoder.frame["height"] // (8 * tall), decoder.frame["width"] // (8 * wide))
    means, slack = [], []
    for c in comps:
        dc_step = int(decoder.quant[c["tq"]][0])
        level = c["coef"][..., 0] * dc_step / 8 + 128
        rows, cols = level.shape
        mean = level.reshape(rows // c["v"], c["v"], cols // c["h"], c["h"]).mean(axis=(1, 3))
        means.append(mean[: whole[0], : whole[1]])
        slack.append(dc_step / 16 + 1.25)
    y, cb, cr = means
    for channel, error in (
        (y + 1.402 * (cr - 128), slack[0] + 1.402 * slack[2]),
        (y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), slack[0] + 0.344136 * slack[1] + 0.714136 * slack[2]),
        (y + 1.772 * (cb - 128), slack[0] + 1.772 * slack[1]),
    ):
        outside = (channel < -error) | (channel > 255 + error)
        if outside.any():
            decoder.events["e_dc_gamut", -1] += int(outside.sum())


def signals(data: bytes) -> dict:
    """Events per signal (summed over components) and the overshoot of one file."""
    try:
        decoder = Decoder(data)
        overshoot = check_ranges(decoder)
    except (ValueError, KeyError, IndexError) as error:
        return {"error": str(error)}
    totals = Counter()
    for (name, _), count in decoder.events.items():
        totals[name] += count
    return {"events": dict(totals), "overshoot": overshoot, "progressive": decoder.frame["progressive"]}


def matches_libjpeg(data: bytes, root: Path) -> bool | None:
    """Whether this decoder's quantised coefficients equal jpeglib's read_dct (libjpeg's) for every
    component's blocks; None if jpeglib cannot read the file."""
    import jpeglib

    path = root / f"{hash(data)}.jpg"
    path.write_bytes(data)
    try:
        try:
            theirs = jpeglib.read_dct(str(path))
        except OSError:
            return None
        planes = [theirs.Y, theirs.Cb, theirs.Cr] if theirs.has_chrominance else [theirs.Y]
        ours = Decoder(data).frame["comps"]
    finally:
        path.unlink()
    if len(ours) != len(planes):
        return None  # jpeglib gives Y, Cb, Cr only (not CMYK)
    for comp, plane in zip(ours, planes, strict=True):
        plane = np.asarray(plane).reshape(plane.shape[0], plane.shape[1], 64)
        natural = np.zeros((comp["bh"], comp["bw"], 64), np.int64)
        natural[..., NATURAL] = comp["coef"][: comp["bh"], : comp["bw"]]
        if plane.shape[:2] != natural.shape[:2] or not (plane == natural).all():
            return False
    return True


def anatomy(clean: bytes, flipped: bytes) -> str:
    """What a flip did to the quantised coefficients: "value" (one block changed), "dc offset" (DC
    values of several blocks moved, AC of at most one block: a flipped bit in a DC difference, whose
    error the DC prediction carries on) or "desync" (AC of several blocks: the decoder lost the code
    boundaries for a while)."""
    dc_blocks = ac_blocks = 0
    for a, b in zip(Decoder(clean).frame["comps"], Decoder(flipped).frame["comps"], strict=True):
        differs = a["coef"] != b["coef"]
        dc_blocks += int(differs[..., 0].sum())
        ac_blocks += int(differs[..., 1:].any(axis=-1).sum())
    if max(dc_blocks, ac_blocks) <= 1:
        return "value"
    return "dc offset" if ac_blocks <= 1 else "desync"


def judge(job: tuple[str, bytes, bytes | None]) -> dict:
    """signals() of one file plus, for clean files, whether the coefficients match libjpeg's and, for
    flipped ones, what the flip did to the coefficients."""
    kind, data, clean = job
    result = signals(data)
    if clean is not None and "error" not in result:
        result["anatomy"] = anatomy(clean, data)
    if kind in ("clean", "corpus") and "error" not in result:
        with tempfile.TemporaryDirectory() as tmp:
            result["matches"] = matches_libjpeg(data, Path(tmp))
    return result


def fired(result: dict, with_overshoot: bool) -> set[str]:
    """The signals one file raised (silent ones only; the not-silent events are reported apart)."""
    names = {name for name in result.get("events", {}) if name in SIGNALS}
    if with_overshoot and result.get("overshoot", 0) > OVERSHOOT:
        names.add("e_overshoot")
    return names


def corpus_jpegs() -> list[tuple[str, bytes]]:
    """(name, bytes) of the corpus JPEGs that strict libjpeg-turbo decodes (the valid ones)."""
    found = []
    if CORPUS.is_dir():
        for path in sorted(CORPUS.glob("*.jp*g")):
            data = path.read_bytes()
            try:
                simplejpeg.decode_jpeg(data, strict=True)
            except ValueError:
                continue
            found.append((path.name, data))
    return found


def dc_image_vs_eighth(data: bytes) -> tuple[float, float]:
    """Largest |difference| in levels between the DC-only image (DC x Q / 8 + 128 per block, from
    coefficients) and simplejpeg's strict 1/8-scale decode: of the luma (GRAY decode), and of RGB as
    the scan decodes it (fastdct, fastupsample; chroma DC repeated over its blocks, YCbCr -> RGB by
    T.871's formulas)."""
    decoder = Decoder(data)
    frame, planes = decoder.frame, []
    hmax, vmax = max(c["h"] for c in frame["comps"]), max(c["v"] for c in frame["comps"])
    for comp in frame["comps"]:
        dc = comp["coef"][..., 0].astype(np.int64) * int(decoder.quant[comp["tq"]][0])
        level = np.clip(((dc + 4) >> 3) + 128, 0, 255)  # jidctred.c jpeg_idct_1x1: DESCALE(dc x Q, 3)
        planes.append(level.repeat(vmax // comp["v"], 0).repeat(hmax // comp["h"], 1).astype(float))
    size = {"min_height": ceil(frame["height"], 8), "min_width": ceil(frame["width"], 8), "strict": True}
    gray = simplejpeg.decode_jpeg(data, colorspace="GRAY", **size)[..., 0]
    rows, cols = gray.shape
    luma = float(np.abs(gray - planes[0][:rows, :cols]).max())
    if len(planes) != 3:
        return luma, luma
    y, cb, cr = (plane[:rows, :cols] for plane in planes)
    ours = np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)])
    ours = np.clip(np.round(ours), 0, 255).transpose(1, 2, 0)
    theirs = simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=True, fastupsample=True, **size)
    return luma, float(np.abs(theirs.astype(float) - ours).max())


def photo_500x375(progressive: bool) -> bytes:
    """scikit-image's astronaut as a 500x375 quality-90 4:2:0 JPEG: the size the cost target names."""
    import skimage.data
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).resize((500, 375)).save(
        buffer, "JPEG", quality=90, progressive=progressive
    )
    return buffer.getvalue()


def timings(files: list[bytes], root: Path) -> tuple[float, float]:
    """Median seconds per file of jpeglib.read_dct and of simplejpeg's strict 1/8 decode."""
    import jpeglib

    paths = []
    for index, data in enumerate(files):
        paths.append(root / f"t{index}.jpg")
        paths[-1].write_bytes(data)
    read, eighth = [], []
    for _ in range(5):
        started = time.perf_counter()
        for path in paths:
            jpeglib.read_dct(str(path)).load()
        read.append((time.perf_counter() - started) / len(paths))
        started = time.perf_counter()
        for path in paths:
            data = path.read_bytes()
            height, width = simplejpeg.decode_jpeg_header(data)[:2]
            simplejpeg.decode_jpeg(data, min_height=-(-height // 8), min_width=-(-width // 8), strict=True)
        eighth.append((time.perf_counter() - started) / len(paths))
    return float(np.median(read)), float(np.median(eighth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    test_set_options(parser)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--verbose", action="store_true", help="print every clean file flagged and every miss > 1%%")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    photos = photographs()
    started = time.perf_counter()
    # The same rng calls in the same order as benchmarks/concealed_jpeg.py: the same files.
    clean = [make_variant(rng, photos[index % len(photos)][1]) for index in range(args.clean)]
    flips = []
    for index in range(args.flipped):
        data, kind = make_variant(rng, photos[index % len(photos)][1])
        flipped = silent_flip(rng, data, args.tries)
        if flipped is not None:
            flips.append((kind, damage(data, flipped, args.visible), flipped, data))
    corpus = corpus_jpegs()
    print(
        f"built {len(clean)} clean, {len(flips)} silent flips, {len(corpus)} corpus JPEGs "
        f"({time.perf_counter() - started:.0f} s)"
    )
    jobs = [("clean", d, None) for d, _ in clean] + [("flip", f, d) for _, _, f, d in flips]
    jobs += [("corpus", d, None) for _, d in corpus]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(judge, jobs, chunksize=8))
    print(f"decoded {len(jobs)} files in {time.perf_counter() - started:.0f} s")
    clean_r, flip_r = results[: len(clean)], results[len(clean) : len(clean) + len(flips)]
    corpus_r = results[len(clean) + len(flips) :]
    for label, group, names in (
        ("clean", clean_r, [k for _, k in clean]),
        ("corpus", corpus_r, [n for n, _ in corpus]),
    ):
        errors = [n for n, r in zip(names, group, strict=True) if "error" in r]
        mismatched = [n for n, r in zip(names, group, strict=True) if r.get("matches") is False]
        unread = [n for n, r in zip(names, group, strict=True) if "error" not in r and r.get("matches") is None]
        print(
            f"{label}: {len(group)} files, {len(errors)} not decoded {errors[:5]}, coefficients differ from "
            f"libjpeg's on {len(mismatched)} {mismatched[:5]}, jpeglib cannot read {len(unread)} {unread[:5]}"
        )
        for signal in (*SIGNALS, "e_overshoot", *NOT_SILENT):
            hits = [
                n
                for n, r in zip(names, group, strict=True)
                if signal in fired(r, True) or signal in r.get("events", {})
            ]
            if hits:
                print(f"  false positives {signal}: {len(hits)} {hits[:4] if args.verbose else ''}")
        overshoot = np.array([r.get("overshoot", 0) for r in group])
        if len(overshoot):
            print(
                f"  overshoot levels: median {np.median(overshoot):.1f}, "
                f"99th {np.percentile(overshoot, 99):.1f}, max {overshoot.max():.1f}"
            )
    hurts = np.array([h for _, h, _, _ in flips])
    with tempfile.TemporaryDirectory() as tmp:
        config = ScanConfig(num_classes=2, concealed="warn")
        for (_, _, data, _), result in zip(flips, flip_r, strict=True):
            result["pixel"] = flagged(Path(tmp) / "sample.jpg", data, config) is not None
    print(f"silent flips: recall by signal and damage class ({len(flip_r)} files)")
    columns = (*SIGNALS, "e_overshoot", "union a-e", "union +overshoot", "pixel today", "pixel+a-e")
    print(f"  {'damage':14s} {'files':>5s} " + " ".join(f"{c[:12]:>12s}" for c in columns))
    for label, chosen in (
        ("none", hurts == 0),
        ("<= 1%", (hurts > 0) & (hurts <= 0.01)),
        ("> 1%", hurts > 0.01),
        ("> 10%", hurts > 0.10),
        ("all", hurts >= 0),
    ):
        group = [r for r, keep in zip(flip_r, chosen, strict=True) if keep]
        cells = []
        for column in columns:
            if column == "union a-e":
                hit = [bool(fired(r, False)) for r in group]
            elif column == "union +overshoot":
                hit = [bool(fired(r, True)) for r in group]
            elif column == "pixel today":
                hit = [r["pixel"] for r in group]
            elif column == "pixel+a-e":
                hit = [r["pixel"] or bool(fired(r, False)) for r in group]
            else:
                hit = [column in fired(r, True) for r in group]
            cells.append(f"{100 * np.mean(hit):11.1f}%" if group else f"{'-':>12s}")
        print(f"  {label:14s} {len(group):5d} " + " ".join(cells))
    not_silent = Counter(name for r in flip_r for name in r.get("events", {}) if name in NOT_SILENT)
    print(
        f"  not-silent events on silent flips (should be none): {dict(not_silent)}; "
        f"errors {sum('error' in r for r in flip_r)}"
    )
    by_kind = Counter()
    for (kind, hurt, _, _), r in zip(flips, flip_r, strict=True):
        if hurt > 0.01:
            for key in ("progressive" if "progressive" in kind else "sequential", r.get("anatomy", "?")):
                by_kind[key, "n"] += 1
                by_kind[key, "hit"] += bool(fired(r, False))
                by_kind[key, "pixel"] += r["pixel"]
    for key in ("sequential", "progressive", "value", "dc offset", "desync"):
        if by_kind[key, "n"]:
            print(
                f"  damage > 1%, {key}: {by_kind[key, 'n']} files, {by_kind[key, 'hit']} caught by union a-e, "
                f"{by_kind[key, 'pixel']} by today's pixel detector"
            )
    if args.verbose:
        for (kind, hurt, _, _), r in zip(flips, flip_r, strict=True):
            if hurt > 0.01 and not fired(r, False):
                print(
                    f"  missed {kind} damage {100 * hurt:.1f}% {r.get('anatomy')} overshoot {r.get('overshoot', 0):.0f}"
                    f"{' (pixel detector: yes)' if r['pixel'] else ''}"
                )
    with tempfile.TemporaryDirectory() as tmp:
        for label, files in (
            ("first 200 clean files", [d for d, _ in clean[:200]]),
            ("500x375 q90 4:2:0 baseline", [photo_500x375(False)] * 50),
            ("500x375 q90 4:2:0 progressive", [photo_500x375(True)] * 50),
        ):
            read, eighth = timings(files, Path(tmp))
            decoder = Decoder(files[0])
            started = time.perf_counter()
            check_ranges(decoder)
            checks = time.perf_counter() - started
            print(
                f"{label}: jpeglib.read_dct {1e3 * read:.2f} ms a file, "
                f"simplejpeg strict 1/8 decode {1e3 * eighth:.2f} ms; numpy checks b, c, gamut and overshoot "
                f"on given coefficients {1e3 * checks:.2f} ms (first file)"
            )
    worst = np.array([dc_image_vs_eighth(d) for d, _ in clean[:200]])
    for index, label in enumerate(("luma", "RGB")):
        print(
            f"DC-only {label} vs strict 1/8 decode, 200 clean files: max |diff| {worst[:, index].max():.0f} levels, "
            f"median file's max {np.median(worst[:, index]):.0f}, files exact {np.mean(worst[:, index] == 0):.0%}"
        )


if __name__ == "__main__":
    main()
