"""Previews of flagged samples for report.html: a small JPEG thumbnail where the file decodes (a
segmentation mask drawn over its image, out-of-range pixels highlighted), and where it does not,
what the file is instead (its detected format and first bytes), so that an HTML page saved as
.jpg is obvious at a glance.

Files are read only inside the dataset root, judged by the scan's own guard (checks.paths), and
decoded by Pillow under the scan's limits (load.image.pillow_limits, --max-pixels,
--max-file-bytes). Nothing here raises: a file that cannot be shown gets its bytes view, or a
line saying why it was not read.
"""

from __future__ import annotations

import base64
import io
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sanitize.checks.paths import PathGuard
from sanitize.config import ScanConfig
from sanitize.formats import HEAD_SIZE, IMAGE_FORMATS, sniff
from sanitize.load.image import oversized, pillow_limits
from sanitize.load.mask import load_mask
from sanitize.model import ImageInfo, Loaded, Sample

#: The longest side of a thumbnail, in pixels (a gallery card shows it at this size).
THUMB_SIDE = 96
#: How many of a file's first bytes the bytes view shows.
HEAD_SHOWN = 48
#: The colour of mask pixels outside [0, num_classes) that are not the ignore label.
OUT_OF_RANGE = (255, 0, 255)


@dataclass(frozen=True)
class Preview:
    """What report.html shows of a sample: `image`, a data: URI of a JPEG thumbnail, or else the
    detected `format` and the `head` (first bytes) of the file; `note` says what is shown or why not."""

    image: str | None = None
    format: str | None = None
    head: bytes | None = None
    note: str = ""


class Previewer:
    """Previews of samples of one dataset, by the path the report names them with. `real_root` is
    None for a dataset in object storage: its objects are not fetched again for a report."""

    def __init__(self, root: str, real_root: str | None, config: ScanConfig) -> None:
        self.root = root
        self.guard = PathGuard(real_root) if real_root is not None else None
        self.config = config

    def preview(self, path: str, mask: str | None = None) -> Preview:
        if self.guard is None:
            return Preview(note="the dataset is in object storage: not fetched for the report")
        sample = Sample.under(self.root, 0, path, mask=mask)
        refused = self.guard.image(sample)
        if refused:
            return Preview(note=f"not read: {refused[0].message}")
        try:
            data, too_large = self._read(sample.file)
        except OSError as exc:
            return Preview(note=f"cannot read: {exc.strerror or exc}")
        detected = sniff(data[:HEAD_SIZE])
        head = data[:HEAD_SHOWN]
        if too_large:
            return Preview(format=detected, head=head, note=too_large)
        if not data:
            return Preview(format=detected, head=head, note="zero-byte file")
        if detected == "NPY":
            return Preview(format=detected, head=head, note="a NumPy array: its header is shown, not its values")
        try:
            image = self._decode(data)
        except Image.UnidentifiedImageError:  # its message names a BytesIO at an address: no two pages alike
            return Preview(format=detected, head=head, note="does not decode: not an image Pillow can open")
        except Exception as exc:  # noqa: BLE001 - any decoder failure gets the bytes view, never a crash
            return Preview(format=detected, head=head, note=f"does not decode: {str(exc) or type(exc).__name__}")
        note = ""
        if sample.mask_file is not None:
            refused = self.guard.mask(sample)
            image, note = (image, f"mask not read: {refused[0].message}") if refused else self._overlay(image, sample)
        return Preview(image=_data_uri(image), format=detected, note=note)

    def _read(self, file: str) -> tuple[bytes, str | None]:
        """The file's bytes, or only its head with the reason when it is over --max-file-bytes."""
        with open(file, "rb") as handle:
            info = ImageInfo(size=os.fstat(handle.fileno()).st_size)
            reason = oversized(info, self.config)
            return handle.read(HEAD_SIZE) if reason else handle.read(), reason

    def _decode(self, data: bytes) -> Image.Image:
        """A thumbnail (RGB, at most THUMB_SIDE a side), decoded by Pillow under the scan's limits."""
        with pillow_limits(self.config), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            if image.width * image.height > self.config.max_pixels:
                raise ValueError(f"{image.width}x{image.height} pixels, over --max-pixels")
            image.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))  # JPEG: DCT-scaled, a fraction of the work
            image.load()
            image = _displayable(image)
            image.thumbnail((THUMB_SIDE, THUMB_SIDE))
            return image

    def _overlay(self, image: Image.Image, sample: Sample) -> tuple[Image.Image, str]:
        """The mask drawn over the thumbnail: classes tinted, out-of-range values in OUT_OF_RANGE."""
        loaded = Loaded(sample, ImageInfo(), opened=True)
        with pillow_limits(self.config), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_mask(loaded, self.config)
        index_map = loaded.mask.index_map if loaded.mask is not None else None
        if index_map is None:
            return image, "the mask does not decode"
        ignore = self.config.mask_ignore_label
        bad = (index_map != ignore) & ((index_map < 0) | (index_map >= self.config.num_classes))
        small = np.asarray(Image.fromarray(index_map.astype(np.int32), "I").resize(image.size, Image.NEAREST))
        small_bad = np.asarray(Image.fromarray(bad.astype(np.uint8) * 255, "L").resize(image.size, Image.BOX)) > 0
        pixels = np.asarray(image, dtype=np.float32)
        tint = _class_colours(small)
        tinted = np.where((small == ignore)[..., None], pixels, 0.55 * pixels + 0.45 * tint)
        tinted[small_bad] = OUT_OF_RANGE
        count = int(bad.sum())
        note = f"mask over image; {count:,} pixels out of range (magenta)" if count else "mask over image"
        return Image.fromarray(tinted.astype(np.uint8), "RGB"), note


def _class_colours(index_map: np.ndarray) -> np.ndarray:
    """A distinct colour per class value (golden-angle hues), as an H x W x 3 float array."""
    hue = (index_map.astype(np.float64) * 0.618033988749895) % 1.0
    channels = [np.clip(np.abs((hue * 6 + shift) % 6 - 3) - 1, 0, 1) for shift in (0, 4, 2)]
    return np.stack(channels, axis=-1) * 255


def _displayable(image: Image.Image) -> Image.Image:
    """RGB for a thumbnail: high bit-depth and float data stretched to their own range,
    transparency laid on white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scaled = np.nan_to_num((values - low) / max(high - low, 1e-12) * 255, nan=0, posinf=255, neginf=0)
        return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=75, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
