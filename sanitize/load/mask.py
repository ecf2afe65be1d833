"""Read a segmentation mask once and turn it into the class-index map a loader would feed
the loss, at full resolution, never raising.

Unlike images, masks are never decoded DCT-downscaled: a mask's values are labels, and a
downscaled decode would average them. Palette (P) images give their palette indices (what
`np.asarray(Image.open(mask))` gives, VOC's convention), grayscale and 16-bit images their
values, `.npy` arrays their integers (loaded with allow_pickle=False). An RGB mask becomes an
index map only through the configured palette. Whatever prevents an index map is a `mask`
finding on the sample, so one bad mask never stops a scan.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping

import numpy as np
from PIL import Image

from sanitize.arrays import CHUNK
from sanitize.config import ScanConfig
from sanitize.findings import error
from sanitize.formats import HEAD_SIZE, IMAGE_FORMATS, NOT_AN_IMAGE_SUFFIX, is_image_format, sniff
from sanitize.load.image import fetch_object, oversized, record_stat
from sanitize.load.npy import load_npy
from sanitize.load.palette import apply_palette
from sanitize.load.refused import Refused
from sanitize.model import ImageInfo, Loaded, LoadedMask, Sample
from sanitize.remote import ObjectStore

#: How many unmapped colours a message names.
SHOWN_COLOURS = 5
#: More distinct values than this is not a class-index map (noise, an image saved as a mask);
#: the cap keeps each sample's value counts small on their way to the report.
MAX_DISTINCT_VALUES = 65_536


def value_counts(index_map: np.ndarray) -> dict[int, int]:
    """Pixels per value; bincount for 8/16-bit maps (fast), unique for the rest."""
    flat = index_map.ravel()
    if flat.dtype.kind == "u" and flat.dtype.itemsize <= 2:
        counts = np.bincount(flat)
        values = np.flatnonzero(counts)
        return dict(zip(values.tolist(), counts[values].tolist(), strict=True))
    values, counts = np.unique(flat, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def region_values(index_map: np.ndarray) -> tuple[int, ...]:
    """The values with at least one pixel whose 4 neighbours share its value: values that form
    a region somewhere, not only the thin lines and specks interpolation leaves on edges. Judged
    a band of rows at a time (with the rows above and below it), so the comparisons' boolean
    temporaries stay a few MiB, not several times the mask's size."""
    height, width = index_map.shape
    band = max(1, CHUNK // max(width, 1))
    found: set[int] = set()
    for top in range(1, height - 1, band):
        window = index_map[top - 1 : min(top + band, height - 1) + 1]
        inner = window[1:-1, 1:-1]
        core = (
            (inner == window[:-2, 1:-1])
            & (inner == window[2:, 1:-1])
            & (inner == window[1:-1, :-2])
            & (inner == window[1:-1, 2:])
        )
        found.update(value_counts(inner[core]))
    return tuple(sorted(found))


def _load_npy(sample: Sample, info: ImageInfo, data: bytes | None = None) -> np.ndarray:
    """The mask array, loaded like an image array (allow_pickle=False), findings renamed `mask`;
    `data`: an object's bytes (a local file is memory-mapped)."""
    scratch = Loaded(sample._replace(file=sample.mask_file), info)
    try:
        load_npy(scratch, data)
    except Refused as refused:
        finding = refused.finding
        raise Refused(error("mask", finding.code, f"mask: {finding.message}")) from None
    array = scratch.pixels
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim >= 2:
        info.height, info.width = array.shape[:2]
    return array


def _load_image(data: bytes, info: ImageInfo, config: ScanConfig) -> np.ndarray:
    info.decoder = "pillow"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # size is judged below; truncation raises (pillow_limits)
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            info.format, info.mode, (info.width, info.height) = image.format, image.mode, image.size
            if image.width * image.height > config.max_pixels:
                raise Refused(
                    error(
                        "mask",
                        "decompression_bomb",
                        f"mask declares {image.width}x{image.height} pixels,"
                        f" over the limit of {config.max_pixels:,}; refused before decoding",
                    )
                )
            image.load()
    except Refused:
        raise
    except Image.DecompressionBombError as exc:
        raise Refused(error("mask", "decompression_bomb", f"mask: {exc}")) from None
    except Image.UnidentifiedImageError:
        raise Refused(error("mask", "unidentified", "Pillow cannot open the mask")) from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a finding, never a crash
        raise Refused(error("mask", "corrupt_data", f"mask: Pillow: {exc or type(exc).__name__}")) from None
    info.channels = len(image.getbands())
    info.frames = getattr(image, "n_frames", 1)
    array = np.asarray(image)
    return array.astype(array.dtype.newbyteorder("="), copy=False)  # I;16B is big-endian


def _index_map(array: np.ndarray, config: ScanConfig) -> np.ndarray:
    """The H x W class-index map of a decoded mask, or a refusal saying why there is none."""
    if array.ndim == 3 and array.shape[2] in (3, 4):
        if config.palette is None:
            gray = bool((array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all())
            hint = " (its channels are equal: save it as a single-channel image)" if gray else ""
            raise Refused(
                error(
                    "mask",
                    "rgb",
                    f"RGB mask where a single-channel index map is expected{hint}; colour-coded masks need --palette",
                )
            )
        index_map, unmapped = apply_palette(array, config.palette)
        if unmapped:
            worst = sorted(unmapped.items(), key=lambda kv: -kv[1])[:SHOWN_COLOURS]
            shown = ", ".join(f"({r},{g},{b}): {n:,} px" for (r, g, b), n in worst)
            more = f" and {len(unmapped) - len(worst)} more" if len(unmapped) > len(worst) else ""
            raise Refused(
                error("mask", "unmapped_colour", f"{len(unmapped)} colour(s) not in the palette: {shown}{more}")
            )
        return index_map
    if array.ndim != 2:
        raise Refused(error("mask", "not_single_channel", f"mask has shape {array.shape}, not height x width"))
    if array.dtype.kind == "f":
        raise Refused(
            error(
                "mask",
                "not_integer",
                f"{array.dtype} mask: class indices must be integers (a loader's .long() would truncate them)",
            )
        )
    return array.astype(np.uint8) if array.dtype.kind == "b" else array


def load_mask(
    loaded: Loaded, config: ScanConfig, objects: Mapping[str, dict] | None = None, store: ObjectStore | None = None
) -> None:
    """Read and decode `loaded.sample.mask_file` into `loaded.mask`; problems become findings. A
    mask in object storage is read through `store`, with the status the paths check took."""
    info = ImageInfo()
    loaded.mask = LoadedMask(info)
    try:
        if store is not None:
            status = (objects or {})[loaded.sample.mask_file]
            data, too_large = fetch_object(loaded.sample.mask_file, info, config, store, status)
            head = b"-" if too_large else data[:HEAD_SIZE]  # too large: not empty, only unread
        else:
            with open(loaded.sample.mask_file, "rb") as handle:
                record_stat(handle, info)
                head = handle.read(HEAD_SIZE)
                info.format = sniff(head)
                too_large = oversized(info, config)
                data = b"" if info.format == "NPY" or too_large else head + handle.read()
    except OSError as exc:
        loaded.findings.append(error("mask", "unreadable", f"cannot read the mask: {exc.strerror or exc}"))
        return
    try:
        if not head:
            raise Refused(error("mask", "empty", "the mask is a zero-byte file"))
        if too_large:
            raise Refused(error("mask", "too_large", f"the mask is {too_large}"))
        if info.format is not None and not is_image_format(info.format):
            content = info.format.removesuffix(NOT_AN_IMAGE_SUFFIX).strip()
            raise Refused(error("mask", "not_an_image", f"the mask is not an image: its content is {content}"))
        if info.format == "NPY":
            array = _load_npy(loaded.sample, info, data if store is not None else None)
        else:
            array = _load_image(data, info, config)
        info.bit_depth = array.dtype.itemsize * 8
        index_map = _index_map(array, config)
    except Refused as refused:
        loaded.findings.append(refused.finding)
        return
    values = value_counts(index_map)
    if len(values) > MAX_DISTINCT_VALUES:
        loaded.findings.append(
            error("mask", "not_an_index_map", f"{len(values):,} distinct values: not a class-index map")
        )
        return
    loaded.mask.index_map = index_map
    loaded.mask.values = values
    loaded.mask.regions = region_values(index_map)
