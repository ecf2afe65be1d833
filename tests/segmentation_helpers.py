"""Builders of real image/mask files for the segmentation tests; nothing here is mocked."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from sanitize.checks import CHECKS
from sanitize.config import ScanConfig
from sanitize.findings import Finding
from sanitize.load.image import load, pillow_limits
from sanitize.load.mask import load_mask
from sanitize.model import Loaded, Sample

HEIGHT, WIDTH = 48, 64


def seg_config(num_classes: int = 3, **options: object) -> ScanConfig:
    return ScanConfig(num_classes=num_classes, task="segmentation", **options)


def photo(height: int = HEIGHT, width: int = WIDTH, seed: int = 0) -> np.ndarray:
    """A smooth RGB image with mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def square_mask(
    height: int = HEIGHT, width: int = WIDTH, value: int = 1, background: int = 0, dtype: type = np.uint8
) -> np.ndarray:
    """Background with one centred square of `value` covering a quarter of the mask."""
    mask = np.full((height, width), background, dtype=dtype)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = value
    return mask


def disc_mask(value: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A disc of `value` on 0: round edges cross JPEG blocks, so compression smears them."""
    y, x = np.mgrid[0:height, 0:width]
    inside = (y - height / 2) ** 2 + (x - width / 2) ** 2 < (min(height, width) / 3) ** 2
    return np.where(inside, value, 0).astype(np.uint8)


def save(path: Path, array: np.ndarray, **options: object) -> Path:
    """Save an array as an image (format from the extension) or, for .npy, with np.save."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, array)
    else:
        Image.fromarray(array).save(path, **options)
    return path


def jpeg_roundtrip(mask: np.ndarray, quality: int = 75) -> np.ndarray:
    """What a mask saved as JPEG holds when read back: edge artefacts around every class."""
    buffer = io.BytesIO()
    Image.fromarray(mask).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def resized(mask: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """`mask` resized to (width, height) with the given filter."""
    return np.asarray(Image.fromarray(mask).resize(size, resample))


def write_pair(
    root: Path, stem: str, mask: np.ndarray, *, mask_ext: str = ".png", image: np.ndarray | None = None
) -> str:
    """Write images/<stem>.jpg (a photo of its own, by default) and masks/<stem><mask_ext>; return the
    `image mask` list line."""
    if image is None:
        image = photo(*mask.shape[:2], seed=zlib.crc32(stem.encode()))
    save(root / "images" / f"{stem}.jpg", image, quality=90)
    save(root / "masks" / f"{stem}{mask_ext}", mask)
    return f"images/{stem}.jpg masks/{stem}{mask_ext}\n"


def load_pair(root: Path, image: str, mask: str | None, config: ScanConfig) -> Loaded:
    """Load an image and its mask exactly as the pipeline does (each file read once)."""
    sample = Sample.under(root, 0, image, mask=mask)
    with pillow_limits(config):
        loaded = load(sample, config)
        if sample.mask_file is not None:
            load_mask(loaded, config)
    return loaded


def mask_sample(tmp_path: Path, mask: np.ndarray, config: ScanConfig, *, mask_ext: str = ".png", **save_options):
    """Write a photo the mask's size plus the mask, and load the pair."""
    save(tmp_path / "image.png", photo(*mask.shape[:2]))
    save(tmp_path / f"mask{mask_ext}", mask, **save_options)
    return load_pair(tmp_path, "image.png", f"mask{mask_ext}", config)


def all_findings(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    """What loading found plus what every check finds."""
    return loaded.findings + [f for check in CHECKS for f in check(loaded, config)]


def codes(findings: list[Finding]) -> set[str]:
    return {f"{f.check}:{f.code}" for f in findings}
