"""What the dataset-wide duplicate, leakage and layout checks need of a file, taken while it is
loaded anyway: a digest of its bytes, a perceptual hash of its decoded pixels, and a JPEG's EXIF
orientation. Each is a 64-bit integer (0: none), so that it travels back from the workers as a
numpy column and costs 8 bytes a sample wherever it is kept.

The digest is SHA-256 cut to 64 bits (SHA-256 rather than blake2b: CPUs with SHA extensions
hash it at over 1.5 GB/s, 2.4x blake2b's speed on this project's machines): with 10 million
samples the chance that two different files share one is about n^2 / 2^65 = 3e-6.

The perceptual hash is pHash's DCT hash (Zauner, "Implementation and Benchmarking of
Perceptual Image Hash Functions", 2010; the `imagehash` library's phash): the grey image
averaged to a 32 x 32 grid (a JPEG decoded DCT-downscaled, with no side under 16 pixels, has
some cells repeated), its 2-D DCT, and one bit per coefficient of the 8 x 8 lowest
frequencies: above their median or not. Re-encoding and mild recompression move few of these
bits, resizing a few more; another picture moves about half (see checks.duplicates for the
figures). The grid is imagehash's: on the corpus photos a 16 x 16 grid (the probe's) kept
fewer bits through a resize.
"""

from __future__ import annotations

import functools
import hashlib
import warnings

import numpy as np

from sanitize.arrays import as_hwc, stacks
from sanitize.load.jpeg import JpegHead, jpeg_head
from sanitize.model import Loaded

#: The side of the grey grid the hash is taken from, and of the block of frequencies it keeps.
GRID, KEPT = 32, 8
#: Image sides longer than this are subsampled before the grid is averaged.
MAX_SIDE = 256
#: A grid whose grey levels spread less than this (on a 0-1 scale) is flat: no hash (any two flat
#: images would otherwise be "near duplicates" of each other).
FLAT = 1e-3


def content_digest(data: bytes | memoryview) -> int:
    """The file's bytes as a signed 64-bit integer (the first 8 bytes of their SHA-256), never 0."""
    value = int.from_bytes(hashlib.sha256(data).digest()[:8], "little", signed=True)
    return value or 1


def describe_bytes(data: bytes, loaded: Loaded, head: JpegHead | None = None) -> None:
    """Record what the checks need of a file's bytes on its loaded sample: their digest, and a
    JPEG's EXIF orientation and whether it holds CMYK or YCCK (libjpeg-turbo converts those to RGB
    itself, so the decoded mode does not tell), from its `head` when it was read already."""
    if data:
        loaded.digest = content_digest(data)
    if loaded.info.format == "JPEG":
        loaded.info.orientation, components = jpeg_header(data, head)
        loaded.cmyk = components == 4


@functools.cache
def _dct_matrix() -> np.ndarray:
    """The orthonormal DCT-II matrix, cut to its KEPT lowest frequencies (KEPT x GRID)."""
    n = np.arange(GRID)
    matrix = np.cos(np.pi * (2 * n[None, :] + 1) * np.arange(KEPT)[:, None] / (2 * GRID)) * np.sqrt(2 / GRID)
    matrix[0] /= np.sqrt(2)
    return matrix


@functools.lru_cache(maxsize=512)
def _averaging(n: int) -> np.ndarray:
    """The GRID x n matrix that averages n values into GRID near-equal blocks (each of at least one
    value: when n < GRID, blocks repeat the last one's)."""
    starts = np.minimum(np.linspace(0, n, GRID + 1).astype(np.int64)[:-1], n - 1)
    counts = np.diff(np.append(starts, n)).clip(min=1)
    matrix = np.zeros((GRID, n))
    for block, (start, count) in enumerate(zip(starts.tolist(), counts.tolist(), strict=True)):
        matrix[block, start : start + count] = 1 / count
    return matrix


def _grey_grids(stack: np.ndarray) -> np.ndarray:
    """The grey levels (the mean of the first three channels) of a stack of HWC arrays of one shape,
    averaged to GRID x GRID each by two matrix products. Sides over MAX_SIDE are subsampled first
    (a 32 x 32 grid of means needs no more: each cell still averages 64 pixels or more), so the
    cost stays well under a millisecond an image whatever its size."""
    height, width = stack.shape[1:3]
    stack = stack[:, :: -(-height // MAX_SIDE), :: -(-width // MAX_SIDE), :3]
    grey = stack[..., 0].astype(np.float64)
    for channel in range(1, stack.shape[3]):  # without np.mean's slow reduce over a strided axis
        grey += stack[..., channel]
    grey /= stack.shape[3]
    # a side of GRID is its own grid: the product with the identity cost a third of a 32 x 32
    # image's hash (it also spread an Inf as NaN over its row: either way the hash is 0)
    if stack.shape[1] != GRID:
        grey = _averaging(stack.shape[1]) @ grey
    if stack.shape[2] != GRID:
        grey = grey @ _averaging(stack.shape[2]).T
    return grey


def _hashes_of_one_shape(stack: np.ndarray) -> list[int]:
    """The pHash of each HWC array of a stack (see perceptual_hashes). Float data near its type's
    limit overflows on the way (the grey sum, the DCT): such an image has no hash, like a
    non-finite one, and numpy's overflow warnings, which would only reach a worker's log, are off."""
    with np.errstate(invalid="ignore", over="ignore"):
        grids = _grey_grids(stack)
        low, high = grids.min(axis=(1, 2)), grids.max(axis=(1, 2))
        finite = np.isfinite(low) & np.isfinite(high)  # every cell of a grid is, when its extremes are
        dct = _dct_matrix()
        coefficients = (dct @ (grids if finite.all() else np.nan_to_num(grids)) @ dct.T).reshape(
            len(stack), KEPT * KEPT
        )
        finite &= np.isfinite(coefficients).all(axis=1)
        flat = ~finite | (high - low <= FLAT * np.maximum(np.maximum(abs(high), abs(low)), 1.0))
    bits = coefficients > _medians(np.where(finite[:, None], coefficients, 0)[:, 1:])[:, None]
    values = np.packbits(bits, axis=1, bitorder="little").view("<i8")[:, 0]
    return [0 if skip else int(value) or 1 for skip, value in zip(flat.tolist(), values.tolist(), strict=True)]


def _medians(rows: np.ndarray) -> np.ndarray:
    """np.median of each row, the same values: for rows of an odd length without NaN, the middle
    element of a partition, which np.median takes too, after checks that cost more (2 to 4 us an
    image) than the partition."""
    middle, odd = divmod(rows.shape[1], 2)
    if odd and not np.isnan(rows).any():
        return np.partition(rows, middle, axis=1)[:, middle]
    return np.median(rows, axis=1)


def perceptual_hashes(arrays: list[np.ndarray | None]) -> list[int]:
    """The pHash of each array of decoded pixels as a signed 64-bit integer; 0 for none (no pixels,
    a flat or non-finite image). Arrays of one shape and dtype (most of a batch) are hashed
    together: per image, numpy's fixed costs outweighed the arithmetic on a small one."""
    hashes = [0] * len(arrays)
    groups: dict[tuple, list[int]] = {}
    for position, array in enumerate(arrays):
        if array is not None and array.size and array.dtype.kind in "biuf":
            hwc = as_hwc(array)
            groups.setdefault((hwc.shape, hwc.dtype.str), []).append(position)
    for positions in groups.values():
        for run in stacks(positions, arrays[positions[0]]):
            stack = np.stack([as_hwc(arrays[position]) for position in run])
            for position, value in zip(run, _hashes_of_one_shape(stack), strict=True):
                hashes[position] = value
    return hashes


def perceptual_hash(pixels: np.ndarray | None) -> int:
    """The pHash of one array of decoded pixels (see perceptual_hashes)."""
    return perceptual_hashes([pixels])[0]


def jpeg_header(data: bytes, head: JpegHead | None = None) -> tuple[int | None, int | None]:
    """A JPEG's (EXIF orientation tag 1-8, component count: 4 for CMYK or YCCK), None for either
    not found, from its header (load.jpeg.jpeg_head, read from `data` unless given); the first Exif
    block that holds the tag gives it, and a damaged one is read as no orientation."""
    head = jpeg_head(data) if head is None else head
    orientations = (_orientation(data[start:end]) for start, end in head.exif)
    orientation = next((value for value in orientations if value is not None), None)
    return orientation, head.components


def _orientation(block: bytes) -> int | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():  # a truncated block: Pillow's TIFF reader warns, the value is none
            warnings.simplefilter("ignore")
            exif = Image.Exif()
            exif.load(block)
            value = exif.get(0x0112)
    except Exception:  # noqa: BLE001 - a broken EXIF block is none
        return None
    return value if isinstance(value, int) else None


def describe_pixels(batch: list[Loaded]) -> None:
    """Record the perceptual hash of each loaded image (not of a .npy array: its axes need not be an
    image's), hashed together, and the digest of its mask's class-index map."""
    hashes = perceptual_hashes([None if loaded.info.decoder == "numpy" else loaded.pixels for loaded in batch])
    for loaded, value in zip(batch, hashes, strict=True):
        loaded.phash = value
        if loaded.mask is not None and loaded.mask.index_map is not None:
            loaded.mask.digest = content_digest(np.ascontiguousarray(loaded.mask.index_map).data)
