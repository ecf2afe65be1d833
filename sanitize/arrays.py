"""Pixel arrays as the loaders, the checks and the probe share them: any decoded image or .npy
array as height x width x channels, the way a loader would hand it to a network, and reductions
over a whole array in bounded chunks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sanitize.model import NonFinite


def as_hwc(array: np.ndarray) -> np.ndarray:
    """Any pixel or .npy array as height x width x channels (CHW arrays are transposed)."""
    if array.ndim <= 1:
        return array.reshape(1, -1, 1)
    if array.ndim == 2:
        return array[:, :, None]
    if array.ndim > 3:
        array = array.reshape(-1, *array.shape[-2:])
    if array.shape[0] <= 4 < array.shape[2]:
        return array.transpose(1, 2, 0)
    return array


#: Reductions over a whole array go through slices of at most this many elements, so their
#: temporaries (a float64 slice, its boolean mask) stay a few MiB whatever the array's size.
CHUNK = 1 << 18


def stacks(positions: list[int], array: np.ndarray) -> Iterator[list[int]]:
    """`positions` (of arrays of `array`'s shape, to be stacked and worked on as one) cut into runs
    whose stack holds at most CHUNK elements: its float copy then stays in the processor's cache.
    A whole batch's stack of tiny images (8,192 of them) had its float copy page-faulted in: 32x32
    images cost the probe 12.8 us each stacked whole, 7.5 us in runs of 256."""
    step = max(1, CHUNK // max(1, array.size))
    for start in range(0, len(positions), step):
        yield positions[start : start + step]


def chunks(array: np.ndarray) -> np.nditer:
    """The array's elements as 1-D slices of at most CHUNK, in memory order, for any layout (a
    strided view is buffered a slice at a time, never copied whole)."""
    return np.nditer(array, flags=["external_loop", "buffered", "zerosize_ok"], buffersize=CHUNK, order="K")


def count_nonfinite(frame: np.ndarray, counted: NonFinite | None) -> NonFinite:
    """`counted` (None: nothing yet) plus the NaN, +Inf and -Inf values of the float `frame`, counted
    a chunk at a time: np.isfinite over the whole frame would allocate a boolean array as large as
    its element count."""
    counted = counted or NonFinite()
    counted.values += frame.size
    for part in chunks(frame):
        bad = ~np.isfinite(part)
        if bad.any():
            values = part[bad]
            counted.nan += int(np.isnan(values).sum())
            counted.posinf += int(np.isposinf(values).sum())
            counted.neginf += int(np.isneginf(values).sum())
    return counted
