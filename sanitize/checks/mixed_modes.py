"""mode:minority (dataset-wide): an image whose colour mode is not the one most of the dataset has.

A loader that keeps each file's mode (np.asarray(Image.open(f)), cv2.IMREAD_UNCHANGED,
tf.io.decode_image) hands a grey image 1 channel, an RGBA one 4 and a 16-bit one values up to
65535 among 3-channel 8-bit photos: batching fails ("stack expects each tensor to be equal
size") or the odd file trains at another scale; a loader that converts (.convert("RGB")) hides
the difference but shifts colours (a CMYK or palette file's). Only images are judged (a .npy
array's mode is its dtype and shape). Also the distribution of modes and sizes for the summary.

State: the count of each mode and of each size (at most MAX_SIZES distinct ones), and (sample
index, mode) of every image, spilled to a temporary file (12 bytes a sample on disk).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from sanitize.checks.kinds import DatasetCheck, SamplesOf
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.findings import Finding, warning
from sanitize.model import CleanColumns, ImageInfo, SampleResult
from sanitize.storage import Spill

#: A mode is the dataset's when more than this share of its images have it.
MAJORITY = 0.5
#: Distinct sizes counted for the summary (the rest are counted as "other").
MAX_SIZES = 10_000
#: Sizes listed in the summary, most common first.
SHOWN_SIZES = 20
#: What a mode means to a loader that keeps it (Pillow's modes).
MODE_NAMES = {
    "1": "1-bit",
    "L": "grey, 1 channel",
    "LA": "grey with alpha, 2 channels",
    "P": "palette, 1 channel of indices",
    "PA": "palette with alpha",
    "RGB": "3 channels",
    "RGBA": "RGB with alpha, 4 channels",
    "CMYK": "4 channels of ink",
    "I;16": "16-bit grey",
    "I": "32-bit integer grey",
    "F": "32-bit float grey",
}


def _mode(info: ImageInfo) -> str | None:
    """The mode of an image file (None for an array or a file that was not decoded)."""
    return info.mode if info.decoder in ("pillow", "libjpeg-turbo") and info.mode else None


class MixedModes(DatasetCheck):
    code = "mode:minority"
    section = "modes"
    _ROW = np.dtype([("index", np.int64), ("mode", np.int32)])

    def __init__(self, config: ScanConfig, against: tuple[Dataset, ...] = ()) -> None:
        super().__init__(config, against)
        self.ids: dict[str, int] = {}
        self.modes: Counter[str] = Counter()
        self.sizes: Counter[str] = Counter()
        self._spill = Spill(self._ROW)

    @classmethod
    def applies(cls, config: ScanConfig) -> bool:
        return True

    def _fold(self, infos: list[ImageInfo], counts: list[int]) -> list[int]:
        """Count the images of each info; each info's mode id (-1: not an image)."""
        ids = []
        for info, count in zip(infos, counts, strict=True):
            mode = _mode(info)
            ids.append(-1 if mode is None else self.ids.setdefault(mode, len(self.ids)))
            if mode is None or not count:
                continue
            self.modes[mode] += count
            size = f"{info.width}x{info.height}"
            if size in self.sizes or len(self.sizes) < MAX_SIZES:
                self.sizes[size] += count
            else:
                self.sizes["other"] += count
        return ids

    def _append(self, indices: np.ndarray, modes: np.ndarray) -> None:
        rows = np.empty(int(np.count_nonzero(modes >= 0)), dtype=self._ROW)
        rows["index"], rows["mode"] = indices[modes >= 0], modes[modes >= 0]
        self._spill.append(rows)

    def add(self, results: list[SampleResult]) -> None:
        ids = self._fold([r.info for r in results], [1] * len(results))
        self._append(np.array([r.index for r in results], dtype=np.int64), np.array(ids, dtype=np.int32))

    def add_columns(self, clean: CleanColumns) -> None:
        counts = np.bincount(clean.info_index, minlength=len(clean.infos)).tolist()
        ids = np.array(self._fold(clean.infos, counts), dtype=np.int32).reshape(-1)
        self._append(clean.indices, ids[clean.info_index] if len(ids) else np.zeros(0, np.int32))

    def majority(self) -> str | None:
        """The dataset's mode: the one more than MAJORITY of its images have (None: no such mode)."""
        if not self.modes:
            return None
        mode, count = min(self.modes.items(), key=lambda item: (-item[1], item[0]))
        return mode if count > MAJORITY * sum(self.modes.values()) else None

    def verdict(self, samples_of: SamplesOf | None = None) -> dict[int, Finding]:
        majority = self.majority()
        if majority is None or len(self.modes) == 1:
            return {}
        share = self.modes[majority] / sum(self.modes.values())
        names = {number: mode for mode, number in self.ids.items()}
        findings = {}
        for rows in self._spill.chunks():
            odd = rows[rows["mode"] != self.ids[majority]]
            for index, number in zip(odd["index"].tolist(), odd["mode"].tolist(), strict=True):
                mode = names[number]
                findings[index] = warning(
                    "mode",
                    "minority",
                    f"mode {mode} ({MODE_NAMES.get(mode, mode)}) where {share:.1%} of the dataset's images are"
                    f" {majority} ({MODE_NAMES.get(majority, majority)}): a loader that keeps modes cannot batch"
                    " them together; convert it",
                )
        return findings

    def summary(self, class_names: list[str] | None) -> dict[str, Any]:
        def commonest(counts: Counter[str]) -> list[tuple[str, int]]:  # ties by name: batches arrive in any order
            return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

        return {
            "majority": self.majority(),
            "modes": dict(commonest(self.modes)),
            "sizes": dict(commonest(self.sizes)[:SHOWN_SIZES]),
            "distinct_sizes": len(self.sizes),
        }
