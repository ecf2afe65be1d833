"""Fixtures that build clean and broken samples on disk; nothing here is mocked."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sanitize.config import ScanConfig
from sanitize.load.image import load, pillow_limits
from sanitize.model import Loaded, Sample

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "files"


def cli_env() -> dict[str, str]:
    """The environment of a subprocess that imports this checkout (no DASK_SCHEDULER_ADDRESS leaking
    in, and no GitHub Actions variables: a test scan must not annotate or summarise the CI's own job)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("DASK_SCHEDULER_ADDRESS", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    return env


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m sanitize ARGS` in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "sanitize", *map(str, args)],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A photo-like RGB array: smooth gradients plus mild noise (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def textured_photo(seed: int = 0, height: int = 96, width: int = 128) -> np.ndarray:
    """An RGB array of 1/f noise: textured at every scale, like a natural image's amplitude spectrum
    (van der Schaaf and van Hateren 1996), so perceptual hashes behave on it as on photos."""
    rng = np.random.default_rng(seed)
    frequency = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    amplitude = 1 / np.maximum(frequency, 1 / max(height, width))
    channels = [np.real(np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((height, width))))) for _ in range(3)]
    image = np.stack(channels, axis=-1)
    return ((image - image.min()) / (image.max() - image.min()) * 255).astype(np.uint8)


def jpeg_bytes(
    seed: int = 0, size: tuple[int, int] = (96, 128), quality: int = 90, pixels: np.ndarray | None = None
) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo(*size, seed=seed) if pixels is None else pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def image_folder(root: Path, per_class: int, size: tuple[int, int] = (96, 128)) -> Path:
    """An ImageFolder of clean JPEGs: `per_class` in each of the classes `cat` and `dog`, all
    different (the same file under both would be a duplicate:label_conflict)."""
    for offset, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            (root / cls / f"{i}.jpg").write_bytes(jpeg_bytes(seed=offset * per_class + i, size=size))
    return root


def png_bytes(array: np.ndarray | None = None, **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo() if array is None else array).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def png_chunks(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(offset, type, body) of each chunk of a PNG."""
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        chunks.append((offset, kind, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny, valid-looking PNG whose header declares width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def flip_entropy_bytes(data: bytes, count: int = 3, seed: int = 0) -> bytes:
    """Flip `count` bytes inside a JPEG's entropy-coded data (between SOS and EOI)."""
    start = data.index(b"\xff\xda") + 20
    end = len(data) - 2
    rng = np.random.default_rng(seed)
    damaged = bytearray(data)
    for position in rng.choice(np.arange(start, end), size=count, replace=False):
        damaged[position] ^= 0x55
    return bytes(damaged)


def gif_bytes(frames: int = 3) -> bytes:
    images = [Image.fromarray(photo(32, 32, seed=i)).convert("P") for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def float_tiff_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.float32), mode="F").save(buffer, format="TIFF")
    return buffer.getvalue()


@pytest.fixture
def config() -> ScanConfig:
    return ScanConfig(num_classes=3)


@pytest.fixture
def load_bytes(tmp_path: Path, config: ScanConfig) -> Callable[..., Loaded]:
    """Write bytes to a file named `name` and load it as a sample."""

    def _load(data: bytes, name: str = "sample.jpg", label: str | None = "0", cfg: ScanConfig | None = None) -> Loaded:
        path = tmp_path / name
        path.write_bytes(data)
        cfg = cfg or config
        with pillow_limits(cfg):
            return load(Sample(0, name, str(path), label), cfg)

    return _load


def codes(findings) -> set[str]:
    return {f"{f.check}:{f.code}" for f in findings}
