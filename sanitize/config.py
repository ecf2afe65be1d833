"""Everything that changes what a scan concludes, in one picklable, hashable object."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

from PIL import Image

from sanitize.errors import SanitizeError

#: Formats a sample may be in, by the name the format check detects from magic bytes.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
ALL_FORMATS = (*IMAGE_FORMATS, "NPY")

#: The file extensions a dataset sample may have, and the format each one promises.
EXTENSION_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".ppm": "PPM",  # torchvision's ImageFolder loads .ppm and .pgm too
    ".pgm": "PPM",
    ".npy": "NPY",
}


def sample_suffix(name: str) -> str:
    """A file name's extension, lower-case, by pathlib's rule (".jpg" alone has none): the one
    rule for which files an ImageFolder lists and what format a name promises."""
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


#: What a sample's label is: one class per image, or a class per pixel (a mask).
TASKS = ("classification", "segmentation")
#: How a per-pixel loss is divided (Caffe's NormalizationMode): by the non-ignored pixels
#: (PyTorch's mean; 0/0 for an all-ignored mask), by all pixels, by the batch size, or not.
NORMALIZATIONS = ("valid", "full", "batch_size", "none")
#: The ignore label of masks unless one is given (VOC's boundary value).
MASK_IGNORE_LABEL = 255


#: The largest class count: labels are int32, and the probe's layer has 768 x N weights.
MAX_CLASSES = 1_000_000


@dataclass(frozen=True)
class ScanConfig:
    """Options of the checks and the probe (not of the runner: workers, scheduler)."""

    num_classes: int
    ignore_label: int | None = None
    allow_mismatch: bool = False
    formats: tuple[str, ...] = ALL_FORMATS
    max_pixels: int = Image.MAX_IMAGE_PIXELS or 89_478_485
    #: A file larger than this is not read (memory-mapped .npy arrays excepted): at Pillow's
    #: pixel limit even 16-bit RGBA without compression stays under it.
    max_file_bytes: int = 1 << 30
    probe: bool = True
    probe_scale: tuple[float, ...] | None = None
    probe_mean: tuple[float, ...] = (0.0,)
    probe_grid: int = 16
    probe_seed: int = 0
    task: str = "classification"
    normalization: str = "valid"
    #: RGB mask colours to classes as (r, g, b, class) rows; see sanitize.palette.
    palette: tuple[tuple[int, int, int, int], ...] | None = None

    @property
    def mask_ignore_label(self) -> int:
        return MASK_IGNORE_LABEL if self.ignore_label is None else self.ignore_label

    def __post_init__(self) -> None:
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise SanitizeError(f"--num-classes must be from 1 to {MAX_CLASSES:,}, got {self.num_classes}")
        if self.max_pixels < 1:
            raise SanitizeError(f"--max-pixels must be at least 1, got {self.max_pixels}")
        if self.max_file_bytes < 1:
            raise SanitizeError(f"--max-file-bytes must be at least 1, got {self.max_file_bytes}")
        for name, values in (("--scale", self.probe_scale or (1.0,)), ("--mean", self.probe_mean)):
            if len(values) not in (1, 3):
                raise SanitizeError(f"{name} takes one value or three (one per channel), got {len(values)}")
            if not all(math.isfinite(v) for v in values):
                raise SanitizeError(f"{name} values must be finite numbers, got {', '.join(map(str, values))}")
        if self.probe_scale and 0 in self.probe_scale:
            raise SanitizeError("--scale 0 would blank every input; use --no-probe to switch the probe off")
        if not self.formats:
            raise SanitizeError(f"--formats names no format; known: {', '.join(ALL_FORMATS)}")
        if self.probe_grid < 1:
            raise SanitizeError(f"the probe grid must be at least 1, got {self.probe_grid}")
        choices = (("--task", self.task, TASKS), ("--normalization", self.normalization, NORMALIZATIONS))
        for name, value, known in choices:
            if value not in known:
                raise SanitizeError(f"{name} must be one of {', '.join(known)}, got {value!r}")
        unknown = sorted(set(self.formats) - set(ALL_FORMATS))
        if unknown:
            raise SanitizeError(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(ALL_FORMATS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self, fields: tuple[str, ...] | None = None, **extra: object) -> str:
        """A stable hash of the configuration: equal fingerprints mean equal conclusions.

        `fields` limits it to the options one kind of result depends on; `extra` adds what else
        it depends on (e.g. library versions).
        """
        data = self.to_dict()
        if fields is not None:
            data = {name: data[name] for name in fields}
        text = json.dumps({**data, **extra}, sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
