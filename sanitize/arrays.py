"""Pixel-array layout shared by the checks and the probe: any decoded image or .npy array as
height x width x channels, the way a loader would hand it to a network."""

from __future__ import annotations

import numpy as np


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
