"""Caffe LMDBs and WebDataset shards written from scratch for the container tests."""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def encode_datum(
    channels: int = 3,
    height: int = 0,
    width: int = 0,
    data: bytes = b"",
    label: int = 0,
    floats: tuple[float, ...] = (),
    encoded: bool = False,
    packed: bool = False,
) -> bytes:
    """A Datum serialised as Caffe writes it (caffe.proto; float_data unpacked unless `packed`)."""
    parts = [b"\x08" + _varint(channels), b"\x10" + _varint(height), b"\x18" + _varint(width)]
    if data:
        parts.append(b"\x22" + _varint(len(data)) + data)
    parts.append(b"\x28" + _varint(label))
    if packed and floats:
        run = struct.pack(f"<{len(floats)}f", *floats)
        parts.append(b"\x32" + _varint(len(run)) + run)
    else:
        parts.extend(b"\x35" + struct.pack("<f", value) for value in floats)
    if encoded:
        parts.append(b"\x38\x01")
    return b"".join(parts)


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (24, 20), seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def write_lmdb(folder: Path, records: dict[bytes, bytes]) -> Path:
    import lmdb

    folder.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(folder), map_size=1 << 28)
    with env.begin(write=True) as txn:
        for key, value in records.items():
            txn.put(key, value)
    env.close()
    (folder / "lock.mdb").unlink(missing_ok=True)
    return folder


def write_shard(path: Path, members: list[tuple[str, bytes]]) -> Path:
    """A tar shard of (member name, bytes), in order, as WebDataset's TarWriter writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
