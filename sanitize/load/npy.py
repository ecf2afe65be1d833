""".npy arrays: judged from their header, bounded before anything is mapped or allocated, never unpickled."""

from __future__ import annotations

import io
import math
import os
from typing import BinaryIO

import numpy as np

from sanitize.findings import error
from sanitize.load.refused import Refused
from sanitize.model import Loaded


def _npy_header(handle: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) from a .npy header, by numpy's own parser, without a byte of data."""
    version = np.lib.format.read_magic(handle)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"unknown .npy format version {version[0]}.{version[1]}")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(handle)


def load_npy(loaded: Loaded, data: bytes | None = None) -> None:
    """Memory-map a .npy array (or view `data`, an object's bytes, without a copy), judged from its
    header first; pickled object arrays are refused, never unpickled.

    The array's size is bounded before anything is mapped or allocated: the header's shape x
    itemsize must fit in the bytes the file holds after it (which --max-file-bytes bounded before
    the file was opened or the object fetched, with no exemption for .npy). So a .npy is held to
    the same byte limit as any file; that is the right one, not --max-pixels: a .npy is
    uncompressed, so its data is exactly what a loader's np.load allocates, while --max-pixels
    is a bomb limit for compressed formats whose decoded size the file's size does not show.
    For a .npy, a header that declares more than the file holds is not a bomb but a truncated
    file: corrupt_data, refused before numpy would allocate (reading from a buffer, np.load
    allocates the declared size first) or map it.
    """
    info = loaded.info
    info.decoder = "numpy"
    try:
        if data is None:
            with open(loaded.sample.file, "rb") as handle:
                shape, fortran, dtype = _npy_header(handle)
                offset, size = handle.tell(), os.fstat(handle.fileno()).st_size
        else:
            handle = io.BytesIO(data)
            shape, fortran, dtype = _npy_header(handle)
            offset, size = handle.tell(), len(data)
    except Exception as exc:  # noqa: BLE001 - a broken header is a finding, never a crash
        raise Refused(error("decode", "corrupt_data", f"numpy: {exc}")) from None
    if dtype.hasobject:
        raise Refused(
            error("decode", "pickled_object", "object array (pickled Python objects): refused, never unpickled")
        )
    info.mode = f"{dtype.name} {'x'.join(map(str, shape))}"
    if dtype.kind not in "biuf":
        raise Refused(error("decode", "unsupported_dtype", f"dtype {dtype} is not numeric"))
    count = math.prod(shape)
    if count == 0:
        raise Refused(error("decode", "empty", f"empty array of shape {shape}"))
    if count * dtype.itemsize > size - offset:
        raise Refused(
            error(
                "decode",
                "corrupt_data",
                f"numpy: the header declares {count * dtype.itemsize:,} bytes of data ({dtype} {shape}),"
                f" the file holds {size - offset:,}: truncated; refused before allocating",
            )
        )
    order = "F" if fortran else "C"
    if data is None:
        array = np.memmap(loaded.sample.file, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
    else:
        array = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape, order=order)
    loaded.pixels = array
