"""Seeded mutation fuzzing of what reads a sample: valid files of every accepted format, mutated
the ways files really break (cut short by a failed download, bit rot, a zeroed disk block, a
block written twice, two files spliced, a header chopped), then checked in process and by a real
`sanitize scan`. A mutated file may be any verdict; what must hold for every one:

- nothing raises out of `check_batch` and no check raises inside it (an `internal:*` finding is
  a check that raised: a bug), and every sample of a batch gets exactly one result;
- nothing hangs (a per-file time budget);
- the same file gives the same verdict twice;
- `sanitize scan` exits 0 or 1 without a traceback, and every sample appears once in its report:
  in `findings.jsonl` if it has a finding, in `clean.txt` if it has no error (docs/output.md).

Shared by tests/test_fuzz.py (a small seeded run in the normal suite) and benchmarks/fuzz.py
(long runs that keep every failing input). Not part of the package: it needs only its public
`check_batch`, `ScanConfig` and `Sample`, and the command line. The idea is the mutation-based
fuzzing of zzuf and AFL's "havoc" stage (bit flips, block operations, splicing).
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sanitize.batch import check_batch
from sanitize.config import ScanConfig
from sanitize.formats import EXTENSION_FORMATS
from sanitize.model import Sample

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "files"
#: Mask values of the seed masks: classes 0-3 and the ignore label.
MASK_CLASSES = 4
MASK_SIZE = (24, 32)  # height, width of the segmentation seeds (image and mask agree)

Mutation = Callable[[bytes, bytes, random.Random], bytes]


# --- seed files ---------------------------------------------------------------------------


def _photo(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _saved(image: Image.Image | list[Image.Image], format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    if isinstance(image, list):
        image[0].save(buffer, format=format, save_all=True, append_images=image[1:], **options)
    else:
        image.save(buffer, format=format, **options)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def image_seeds() -> dict[str, bytes]:
    """Valid files of every accepted format and its common variants, by file name."""
    rgb = Image.fromarray(_photo(40, 56, 0))
    gray = rgb.convert("L")
    frames = [Image.fromarray(_photo(40, 56, k)).convert("P") for k in range(3)]
    floats = (np.asarray(gray, dtype=np.float32) / 255).astype(np.float32)
    large = Image.fromarray(_photo(192, 256, 1))  # decoded at 1/8 scale: libjpeg-turbo's DCT scaling
    return {
        "baseline.jpg": _saved(rgb, "JPEG", quality=85),
        "progressive.jpg": _saved(rgb, "JPEG", quality=85, progressive=True),
        "gray.jpeg": _saved(gray, "JPEG"),
        "444.jpg": _saved(rgb, "JPEG", subsampling=0, exif=Image.Exif().tobytes()),
        "cmyk.jpg": _saved(rgb.convert("CMYK"), "JPEG"),
        "restarts.jpg": _saved(large, "JPEG", restart_marker_blocks=4),
        "large-progressive.jpg": _saved(large, "JPEG", progressive=True),
        "mpo.jpg": _saved([rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], "MPO"),
        "rgb.png": _saved(rgb, "PNG"),
        "rgba.png": _saved(rgb.convert("RGBA"), "PNG"),
        "gray16.png": _saved(Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257), "PNG"),
        "palette.png": _saved(frames[0], "PNG", transparency=0),
        "animated.gif": _saved(frames, "GIF", duration=40, loop=0),
        "still.gif": _saved(frames[1], "GIF"),
        "rgb.bmp": _saved(rgb, "BMP"),
        "palette.bmp": _saved(frames[2], "BMP"),
        "raw.tif": _saved(rgb, "TIFF"),
        "deflate.tiff": _saved(rgb, "TIFF", compression="tiff_deflate"),
        "lzw.tif": _saved(gray, "TIFF", compression="tiff_lzw"),
        "float.tif": _saved(Image.fromarray(floats, mode="F"), "TIFF"),
        "pages.tif": _saved([rgb, rgb.transpose(Image.Transpose.FLIP_TOP_BOTTOM)], "TIFF"),
        "lossy.webp": _saved(rgb, "WEBP", quality=80),
        "lossless.webp": _saved(rgb.convert("RGBA"), "WEBP", lossless=True),
        "animated.webp": _saved([f.convert("RGB") for f in frames], "WEBP", duration=40),
        "rgb.ppm": _saved(rgb, "PPM"),
        "gray.pgm": _saved(gray, "PPM"),
        "float.npy": _npy(np.asarray(rgb, dtype=np.float32) / 255),
        "gray64.npy": _npy(floats.astype(np.float64)),
        "uint8.npy": _npy(np.asarray(rgb)),
    }


def _mask_values(seed: int) -> np.ndarray:
    """A class-index map of blocks of classes 0..MASK_CLASSES-1 with an ignored (255) border."""
    height, width = MASK_SIZE
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, MASK_CLASSES, (3, 4), dtype=np.uint8)
    values = np.kron(blocks, np.ones((height // 3, width // 4), dtype=np.uint8))
    values[0, :] = 255
    return values


def mask_seeds() -> dict[str, bytes]:
    """Valid segmentation masks of every accepted kind (docs/segmentation.md), by file name."""
    values = _mask_values(0)
    palette = Image.fromarray(values, mode="L").convert("P")
    palette.putpalette([channel for k in range(256) for channel in (k * 40 % 256, k * 90 % 256, k * 20 % 256)])
    return {
        "palette.png": _saved(palette, "PNG"),
        "gray.png": _saved(Image.fromarray(values), "PNG"),
        "gray16.png": _saved(Image.fromarray(values.astype(np.uint16)), "PNG"),
        "gray.tif": _saved(Image.fromarray(values), "TIFF", compression="tiff_deflate"),
        "gray.bmp": _saved(Image.fromarray(values), "BMP"),
        "uint8.npy": _npy(values),
        "int32.npy": _npy(values.astype(np.int32)),
    }


def corpus_seeds(limit: int, corpus: Path = CORPUS, max_bytes: int = 64 << 10) -> dict[str, bytes]:
    """Up to `limit` of the smallest files of accepted extensions in the shared corpus of real
    broken and unusual files (../shared/corpus), when it is present; none otherwise."""
    if not corpus.is_dir():
        return {}
    files = [p for p in corpus.iterdir() if p.suffix.lower() in EXTENSION_FORMATS and p.stat().st_size <= max_bytes]
    files.sort(key=lambda p: (p.stat().st_size, p.name))
    return {f"corpus-{p.name}": p.read_bytes() for p in files[:limit]}


# --- mutations ----------------------------------------------------------------------------


def _block(data: bytes, rng: random.Random) -> tuple[int, int]:
    """A random block of `data`: (start, end), at most an eighth of it (at least one byte)."""
    length = rng.randint(1, max(1, len(data) // 8))
    start = rng.randrange(max(1, len(data) - length + 1))
    return start, start + length


def truncate(data: bytes, donor: bytes, rng: random.Random) -> bytes:
    """Cut short, as a failed download or a full disk leaves a file."""
    return data[: rng.randrange(len(data))]


def bit_flip(data: bytes, donor: bytes, rng: random.Random) -> bytes:
    """One to eight flipped bits (bit rot, a bad transfer)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def zero_block(data: bytes, donor: bytes, rng: random.Random) -> bytes:
    """A block of zeros (an unwritten disk block, a sparse file)."""
    start, end = _block(data, rng)
    return data[:start] + bytes(end - start) + data[end:]


def duplicate_block(data: bytes, donor: bytes, rng: random.Random) -> bytes:
    """A block written twice."""
    start, end = _block(data, rng)
    return data[:end] + data[start:end] + data[end:]


def splice(data: bytes, donor: bytes, rng: random.Random) -> bytes:
    """The start of one file and the end of another (interleaved writes, a resumed download)."""
    return data[: rng.randrange(1, len(data) + 1)] + donor[rng.randrange(len(donor) + 1) :]


def chop_header(data: bytes, donor: bytes, rng: random.Random) -> bytes:
    """Bytes missing from the first 256: the structures every decoder parses first."""
    start = rng.randrange(min(len(data), 256))
    return data[:start] + data[start + rng.randint(1, 32) :]


MUTATIONS: dict[str, Mutation] = {
    f.__name__: f for f in (truncate, bit_flip, zero_block, duplicate_block, splice, chop_header)
}


@dataclass(frozen=True)
class Case:
    """One mutated file: its name (which says how it was made), its bytes, and if it is a mask."""

    name: str
    data: bytes
    mask: bool = False


def mutate(data: bytes, donor: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutation of `data`, or two in a row one time in five: (their names, the bytes)."""
    names = [rng.choice(list(MUTATIONS)) for _ in range(2 if rng.random() < 0.2 else 1)]
    for name in names:
        data = MUTATIONS[name](data, donor, rng) if data else data
    return "+".join(names), data


def cases(pools: list[tuple[dict[str, bytes], bool]], count: int, seed: int) -> list[Case]:
    """`count` mutated files, the same for the same seed. `pools` are (seed files, are they masks):
    each case draws a pool first, so a large pool (the corpus) does not crowd out a small one."""
    rng = random.Random(seed)
    pools = [(sorted(files.items()), is_mask) for files, is_mask in pools if files]
    out = []
    for i in range(count):
        files, is_mask = rng.choice(pools)
        name, data = rng.choice(files)
        donor = rng.choice(rng.choice(pools)[0])[1]
        how, mutated = mutate(data, donor, rng)
        out.append(Case(f"{seed}-{i:05d}-{how}-{name}", mutated, is_mask))
    return out


# --- writing a dataset --------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """The mutated files on disk: an ImageFolder of images and a list of image/mask pairs."""

    root: Path
    images: list[str]  # ImageFolder entries, relative to root/"images"
    pairs: list[tuple[str, str]]  # (image, mask), relative to root/"pairs"

    @property
    def folder(self) -> Path:
        return self.root / "images"

    @property
    def pair_list(self) -> Path:
        return self.root / "pairs" / "pairs.txt"


def write_dataset(root: Path, batch: list[Case]) -> Dataset:
    """Write the cases under `root`: images in two classes, each mask paired with a valid image of
    its own (one image under many masks would be a duplicate:label_conflict)."""
    images, pairs = [], []
    for i, case in enumerate(batch):
        if case.mask:
            pair = (f"img/{i:05d}.png", f"mask/{case.name}")
            image_png = _saved(Image.fromarray(_photo(*MASK_SIZE, i)), "PNG")
            for part, data in zip(pair, (image_png, case.data), strict=True):
                (root / "pairs" / part).parent.mkdir(parents=True, exist_ok=True)
                (root / "pairs" / part).write_bytes(data)
            pairs.append(pair)
        else:
            entry = f"{'ab'[i % 2]}/{case.name}"
            (root / "images" / entry).parent.mkdir(parents=True, exist_ok=True)
            (root / "images" / entry).write_bytes(case.data)
            images.append(entry)
    (root / "pairs").mkdir(parents=True, exist_ok=True)
    (root / "pairs" / "pairs.txt").write_text("".join(f"{image} {mask}\n" for image, mask in pairs))
    return Dataset(root, images, pairs)


# --- what must hold -----------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What went wrong with one mutated file (or a whole scan: then `file` is the dataset)."""

    file: Path
    kind: str  # raised, hang, missing, internal, crashed, unstable, exit, traceback, report
    detail: str


class Hang(BaseException):
    """A file over its time budget: a BaseException, since check_batch turns every Exception
    into a finding, which would hide the hang as a check failure."""


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise Hang in the main thread after `seconds` (SIGALRM). It interrupts Python code only:
    a decoder stuck inside C code is caught by the subprocess scan's timeout instead."""

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"over its budget of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _name(check: str, code: str, severity: str, message: str) -> str:
    """A finding in a verdict: check:code:severity, with the message of a check that raised."""
    return f"{check}:{code}:{severity}" + (f" ({message})" if check == "internal" else "")


def is_error(verdict: tuple[str, ...]) -> bool:
    return any(name.split(" ")[0].endswith(":error") for name in verdict)


def _verdicts(batch: list[Sample], root: Path, config: ScanConfig, budget: float) -> dict[int, tuple[str, ...]]:
    """Each sample's findings (check:code:severity) from one check_batch; raises what it raises."""
    with time_budget(budget * len(batch)):
        result = check_batch(batch, root, config)
    verdicts = {int(index): () for index in result.clean.indices}
    for flagged in result.flagged:
        if flagged.index in verdicts:
            raise AssertionError(f"two results for sample {flagged.index}")
        verdicts[flagged.index] = tuple(
            sorted(_name(f.check, f.code, f.severity.value, f.message) for f in flagged.findings)
        )
    return verdicts


def _file(sample: Sample) -> Path:
    """The mutated file of a sample: its mask for a segmentation pair, else its image."""
    return Path(str(sample.mask_file or sample.file))


def check_twice(batch: list[Sample], root: Path, config: ScanConfig, budget: float) -> list[Problem]:
    """check_batch on `batch` twice; a batch that raises or hangs is retried one sample at a time
    to name the file responsible."""
    try:
        first, second = (_verdicts(batch, root, config, budget) for _ in range(2))
    except (Exception, Hang) as exc:  # noqa: BLE001 - any escape is what the fuzzer looks for
        if len(batch) > 1:
            return [problem for sample in batch for problem in check_twice([sample], root, config, budget)]
        kind = "hang" if isinstance(exc, Hang) else "raised"
        return [Problem(_file(batch[0]), kind, f"check_batch: {type(exc).__name__}: {exc}")]
    problems = []
    for sample in batch:
        verdict = first.get(sample.index)
        if verdict is None:
            problems.append(Problem(_file(sample), "missing", "check_batch returned no result for it"))
        elif verdict != second.get(sample.index):
            problems.append(Problem(_file(sample), "unstable", f"{verdict} then {second.get(sample.index)}"))
        problems += [Problem(_file(sample), "internal", name) for name in verdict if name.startswith("internal:")]
    return problems


def check_in_process(dataset: Dataset, budget: float, batch_size: int = 16) -> list[Problem]:
    """check_twice over the images (classification) and the pairs (segmentation), in batches."""
    images = [Sample.under(dataset.folder, i, path, label=str(i % 2)) for i, path in enumerate(dataset.images)]
    root = dataset.pair_list.parent
    pairs = [Sample.under(root, i, image, mask=mask) for i, (image, mask) in enumerate(dataset.pairs)]
    runs = (
        (images, dataset.folder, ScanConfig(num_classes=2)),
        (pairs, root, ScanConfig(num_classes=MASK_CLASSES, task="segmentation")),
    )
    problems = []
    for samples, real_root, config in runs:
        for start in range(0, len(samples), batch_size):
            problems += check_twice(samples[start : start + batch_size], real_root.resolve(), config, budget)
    return problems


def report_problems(out: Path, expected: dict[str, Path]) -> tuple[dict[str, tuple[str, ...]], list[Problem]]:
    """Each sample's verdict in a report (its findings, () if clean), and what breaks docs/output.md."""
    records = [json.loads(line) for line in (out / "findings.jsonl").read_text().splitlines()]
    clean = [line.rsplit(" ", 1)[0] for line in (out / "clean.txt").read_text().splitlines()]
    verdicts: dict[str, tuple[str, ...]] = {}
    problems = []
    for record in records:
        file = expected.get(record["path"], out / record["path"])
        names = tuple(
            sorted(_name(f["check"], f["code"], f["severity"], f.get("message", "")) for f in record["findings"])
        )
        if record["path"] in verdicts:
            problems.append(Problem(file, "report", "listed twice in findings.jsonl"))
        verdicts[record["path"]] = names
        problems += [Problem(file, "internal", n) for n in names if n.startswith("internal:")]
        problems += [Problem(file, "crashed", n) for n in names if n.startswith("decode:crashed")]
        problems += [Problem(file, "hang", n) for n in names if n.startswith("decode:timeout")]
    has_error = {path for path, names in verdicts.items() if is_error(names)}
    if len(set(clean)) != len(clean) or set(clean) & has_error:
        problems.append(Problem(out, "report", "clean.txt lists a sample twice or a sample with an error"))
    for path in set(clean) - set(verdicts):
        verdicts[path] = ()
    for path in (set(expected) - set(verdicts)) | (set(verdicts) - set(expected)):
        problems.append(Problem(expected.get(path, out / path), "report", "missing from or foreign to the report"))
    for path in set(verdicts) - set(clean) - has_error:
        problems.append(Problem(expected[path], "report", "no error, yet not in clean.txt"))
    return verdicts, problems


def scan_cli(args: list[str], out: Path, expected: dict[str, Path], timeout: float) -> tuple[dict, list[Problem]]:
    """A real `sanitize scan ARGS --out OUT` subprocess (this checkout's code), and its report's
    verdicts; `expected` maps each sample's report path to its mutated file."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    command = [sys.executable, "-m", "sanitize", "scan", *args, "--out", str(out)]
    where = Path(args[0])
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {}, [Problem(where, "hang", f"sanitize scan ran over {timeout:g} s")]
    if "Traceback" in done.stderr:
        return {}, [Problem(where, "traceback", done.stderr[-2000:])]
    if done.returncode not in (0, 1):
        return {}, [Problem(where, "exit", f"exit {done.returncode}: {done.stderr[-500:]}")]
    return report_problems(out, expected)


def scan_twice(dataset: Dataset, timeout: float) -> tuple[dict[Path, tuple[str, ...]], list[Problem]]:
    """Both parts of the dataset through `sanitize scan`, twice each, with the same verdicts:
    (each mutated file's verdict, the problems)."""
    runs = [
        ([str(dataset.folder)], {path: dataset.folder / path for path in dataset.images}),
        (
            [str(dataset.pair_list), "--num-classes", str(MASK_CLASSES)],
            {image: dataset.pair_list.parent / mask for image, mask in dataset.pairs},
        ),
    ]
    verdicts, problems = {}, []
    for k, (args, expected) in enumerate(runs):
        if not expected:
            continue
        (first, found), (second, again) = (
            scan_cli(args, dataset.root / f"out-{k}-{n}", expected, timeout) for n in range(2)
        )
        problems += found + [p for p in again if p not in found]
        for path in set(first) & set(second):
            if first[path] != second[path]:
                problems.append(Problem(expected[path], "unstable", f"scan: {first[path]} then {second[path]}"))
        verdicts.update((expected[path], verdict) for path, verdict in first.items() if path in expected)
    return verdicts, problems
