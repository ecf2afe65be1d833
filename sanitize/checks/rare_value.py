"""rare_value (dataset-wide): mask values that look like interpolation artefacts, and the mask
statistics they are judged from, folded from each sample's pixel counts per value (never a mask).

Besides the per-class pixel histogram (summary.json's `masks`), this finds values that look like interpolation
artefacts: a class value that, in every mask of the dataset, appears only as thin lines and
specks, never as a region (no pixel of it has all 4 neighbours of the same value). A real
class fills a region in at least one mask; the in-between values a bilinear resize or a JPEG
round trip leaves along class edges never do, whatever the mask size (a pixel-share threshold
would miss them in small masks and flag small objects in large ones). Only class values are
judged (the ignore label is meant to be thin, out-of-range values are already errors). Like
the probe's scale outliers this needs the whole dataset (see checks.kinds for the lifecycle).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sanitize.checks.kinds import DatasetCheck, SamplesOf
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.findings import Finding, warning
from sanitize.model import SampleResult

#: How many rare values a message names.
SHOWN_VALUES = 8


class RareValue(DatasetCheck):
    """State, per value: total pixels; the class values seen forming a region; and, for class
    values not seen forming one yet, the (sample index, pixel count) of each mask that has them."""

    code = "mask:rare_value"
    section = "masks"

    def __init__(self, config: ScanConfig, against: tuple[Dataset, ...] = ()) -> None:
        super().__init__(config, against)
        self.pixels: Counter[int] = Counter()
        self.with_region: set[int] = set()
        self.rare: dict[int, list[tuple[int, int]]] = {}

    @classmethod
    def applies(cls, config: ScanConfig) -> bool:
        return config.task == "segmentation"

    def add(self, results: list[SampleResult]) -> None:
        for result in results:
            if result.mask_values is not None:
                self.fold(result.index, result.mask_values, result.mask_regions)

    def fold(self, index: int, values: dict[int, int], regions: tuple[int, ...]) -> None:
        """Fold one mask's pixel counts and region values in."""
        self.with_region.update(regions)
        for value in regions:
            self.rare.pop(value, None)
        for value, count in values.items():
            self.pixels[value] += count
            is_class = 0 <= value < self.config.num_classes and value != self.config.mask_ignore_label
            if is_class and value not in self.with_region:
                self.rare.setdefault(value, []).append((index, count))

    def verdict(self, samples_of: SamplesOf | None = None) -> dict[int, Finding]:
        """The rare-value warning of each sample whose mask holds a suspect value."""
        by_sample: dict[int, list[tuple[int, int]]] = {}
        for value, holders in sorted(self.rare.items()):
            for index, count in holders:
                by_sample.setdefault(index, []).append((value, count))
        findings = {}
        for index, found in by_sample.items():
            shown = ", ".join(f"{value} ({count:,} px)" for value, count in found[:SHOWN_VALUES])
            more = f" and {len(found) - SHOWN_VALUES} more" if len(found) > SHOWN_VALUES else ""
            findings[index] = warning(
                "mask",
                "rare_value",
                f"value(s) {shown}{more} never form a region in any mask of the dataset, only thin lines"
                " and specks: interpolation artefacts (a mask resized with bilinear, or saved lossily)?",
            )
        return findings

    def summary(self, class_names: list[str] | None) -> dict[str, Any]:
        classes = range(self.config.num_classes)
        ignore = self.config.mask_ignore_label
        return {
            "ignore_label": ignore,
            "normalization": self.config.normalization,
            "class_pixels": {(class_names[i] if class_names else str(i)): self.pixels[i] for i in classes},
            "ignored_pixels": self.pixels[ignore],
            "out_of_range_pixels": sum(
                n for v, n in self.pixels.items() if v != ignore and not 0 <= v < self.config.num_classes
            ),
            "never_appear": [(class_names[i] if class_names else i) for i in classes if self.pixels[i] == 0],
            "rare_values": {str(v): {"masks": len(h), "pixels": self.pixels[v]} for v, h in sorted(self.rare.items())},
        }
