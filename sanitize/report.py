"""The scan's result: a Report that knows whether the dataset is valid, its files, its table.

Results stream in batch by batch (`Collector.add`); only samples with findings are kept, plus
one float per sample for the dataset-wide scale statistic, never a decoded image.
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.errors import SanitizeError
from sanitize.mask_stats import MaskStats
from sanitize.probe import scale_outliers
from sanitize.storage import atomic_write_text
from sanitize.types import Finding, ImageInfo, Sample, SampleResult, warning

EXAMPLES_PER_CODE = 3
EMPTY_CLASSES_SHOWN = 20


def versions() -> dict[str, str]:
    """The versions of Python and of the libraries that decide what a scan concludes."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> dict[str, str]:
    """Read once per process: each package's metadata costs milliseconds to parse."""
    found = {"python": platform.python_version()}
    for package in ("sanitize", "pillow", "numpy", "dask", "distributed", "simplejpeg"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def prepare_output(out: Path) -> None:
    """Create the report folder, or say in one line why it cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SanitizeError(f"cannot create the report folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise SanitizeError(f"cannot write to the report folder {out}")


@dataclass
class Report:
    """What a scan concluded. `valid` and `exit_code` are the gate's verdict."""

    dataset: Dataset
    config: ScanConfig
    flagged: list[SampleResult]
    summary: dict[str, Any]
    error_indices: set[int] = field(default_factory=set)

    @property
    def samples(self) -> list[Sample]:
        return self.dataset.samples

    @property
    def error_count(self) -> int:
        return len(self.error_indices)

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def exit_code(self, max_errors: int = 0) -> int:
        """0 when at most `max_errors` samples have errors, else 1."""
        if max_errors < 0:
            raise SanitizeError(f"--max-errors must be 0 or more, got {max_errors}")
        return 0 if self.error_count <= max_errors else 1

    def clean_samples(self) -> Iterator[Sample]:
        """The samples without any error, in dataset order: safe to train on."""
        return (s for s in self.samples if s.index not in self.error_indices)

    def clean_lines(self) -> Iterator[str]:
        """clean.txt in Caffe list format; labels normalised to plain integers."""
        for sample in self.clean_samples():
            if sample.mask is not None:
                yield f"{sample.path} {sample.mask}\n"
                continue
            yield f"{sample.path} {int(sample.label)}\n" if sample.label is not None else f"{sample.path}\n"

    def write(self, out: Path) -> None:
        """findings.jsonl, summary.json and clean.txt into `out`, each written atomically."""
        prepare_output(out)
        try:
            self._write_files(out)
        except OSError as exc:
            raise SanitizeError(f"cannot write the report to {out}: {exc.strerror or exc}") from None

    def _write_files(self, out: Path) -> None:
        atomic_write_text(
            out / "findings.jsonl",
            "".join(json.dumps(r.to_record(), ensure_ascii=False) + "\n" for r in self.flagged),
        )
        atomic_write_text(out / "summary.json", json.dumps(self.summary, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(out / "clean.txt", "".join(self.clean_lines()))

    def render(self, max_errors: int = 0) -> str:
        """The terminal table: counts per check/code with example paths, then the verdict."""
        lines = []
        findings = self.summary["findings"]
        if findings:
            width = max(len(code) for code in findings)
            lines.append(f"{'finding':<{width}}  {'severity':<8}  {'samples':>7}  examples")
            for code, entry in findings.items():
                examples = ", ".join(entry["examples"])
                more = " ..." if entry["samples"] > len(entry["examples"]) else ""
                lines.append(f"{code:<{width}}  {entry['severity']:<8}  {entry['samples']:>7}  {examples}{more}")
            lines.append("")
        counts = self.summary["samples"]
        empty = self.summary["classes"]["empty"]
        if empty:
            shown = ", ".join(map(str, empty[:EMPTY_CLASSES_SHOWN]))
            more = f" and {len(empty) - EMPTY_CLASSES_SHOWN:,} more" if len(empty) > EMPTY_CLASSES_SHOWN else ""
            lines.append(f"classes with no samples ({len(empty):,}): {shown}{more}")
        rate = self.summary["samples_per_second"]
        verdict = "PASS" if self.exit_code(max_errors) == 0 else "FAIL"
        tolerance = f" (--max-errors {max_errors})" if max_errors else ""
        lines.append(
            f"{verdict}: {counts['with_errors']} of {counts['scanned']} samples have errors{tolerance},"
            f" {counts['with_warnings']} with warnings; {rate:,.0f} samples/s"
        )
        return "\n".join(lines)


@dataclass
class CleanSamples:
    """Classification samples without findings (no mask), as columns for Collector.add_clean."""

    indices: list[int]
    magnitudes: list[float | None]
    losses: list[float | None]
    file_stats: np.ndarray  # per sample: size, mtime_ns
    labels: Counter[tuple[str | None, int | None]]  # (label text, class index) -> samples
    formats: Counter[tuple[str | None, str | None]]  # (format, decoder) -> samples


class Collector:
    """Folds streamed batches of results into a Report without holding clean samples."""

    def __init__(self, dataset: Dataset, config: ScanConfig) -> None:
        self.dataset = dataset
        self.config = config
        self.flagged: dict[int, SampleResult] = {}
        self.magnitudes = np.full(len(dataset.samples), np.nan, dtype=np.float64)
        # size and mtime_ns of each sample's file and mask (-1: unknown), so that a sample flagged
        # only by a dataset-wide statistic can still be verified by quarantine
        self.file_stats = np.full((len(dataset.samples), 4), -1, dtype=np.int64)
        self.class_counts = [0] * config.num_classes
        self.ignored = 0
        self.scanned = 0
        self.formats: Counter[str] = Counter()
        self.decoders: Counter[str] = Counter()
        self.loss_count, self.loss_sum = 0, 0.0
        self.loss_min, self.loss_max = math.inf, -math.inf
        self.mask_stats = MaskStats(config)

    def add(self, results: list[SampleResult]) -> None:
        for result in results:
            self.scanned += 1
            if result.findings:
                self.flagged[result.index] = result
            if result.magnitude is not None:
                self.magnitudes[result.index] = result.magnitude
            if result.loss is not None:
                self.loss_count += 1
                self.loss_sum += result.loss
                self.loss_min = min(self.loss_min, result.loss)
                self.loss_max = max(self.loss_max, result.loss)
            for column, info in ((0, result.info), (2, result.mask_info)):
                if info is not None and info.size is not None and info.mtime_ns is not None:
                    self.file_stats[result.index, column : column + 2] = (info.size, info.mtime_ns)
            if result.label_index is not None:
                self.class_counts[result.label_index] += 1
            elif result.label is not None and not any(f.check == "label" for f in result.findings):
                self.ignored += 1  # parsed, valid, no class: the ignore label
            if result.mask_values is not None:
                self.mask_stats.add(result.index, result.mask_values, result.mask_regions)
                for value in result.mask_values:
                    if 0 <= value < self.config.num_classes:
                        self.class_counts[value] += 1  # segmentation: masks that hold the class
            self.formats[result.info.format or "unknown"] += 1
            self.decoders[result.info.decoder or "none"] += 1

    def add_clean(self, clean: CleanSamples) -> None:
        """Fold in samples known to have no finding, as columns: what `add` would do with their
        SampleResults, without building one per sample (an audit reuses most of a dataset)."""
        indices = np.asarray(clean.indices, dtype=np.intp)
        self.scanned += len(indices)
        self.magnitudes[indices] = np.asarray(clean.magnitudes, dtype=np.float64)  # None -> nan
        self.file_stats[indices, :2] = clean.file_stats
        losses = [loss for loss in clean.losses if loss is not None]
        if losses:  # summed one by one, in order, as `add` sums them
            self.loss_count += len(losses)
            self.loss_sum = sum(losses, self.loss_sum)
            self.loss_min = min(self.loss_min, *losses)
            self.loss_max = max(self.loss_max, *losses)
        for (label, label_index), count in clean.labels.items():
            if label_index is not None:
                self.class_counts[label_index] += count
            elif label is not None:
                self.ignored += count  # a clean sample's label without a class: the ignore label
        for (format_, decoder), count in clean.formats.items():
            self.formats[format_ or "unknown"] += count
            self.decoders[decoder or "none"] += count

    def _class_name(self, index: int) -> str:
        """The folder name of an ImageFolder class, else the index (also past the folders)."""
        names = self.dataset.class_names or []
        return names[index] if index < len(names) else str(index)

    def _stat_info(self, index: int, column: int) -> ImageInfo:
        size, mtime_ns = (int(v) for v in self.file_stats[index, column : column + 2])
        return ImageInfo(size=size, mtime_ns=mtime_ns) if size >= 0 else ImageInfo()

    def _flag(self, index: int, finding: Finding) -> None:
        """Add a dataset-wide finding to a sample, flagged or not yet."""
        sample = self.dataset.samples[index]
        result = self.flagged.get(index) or SampleResult(
            sample.index,
            sample.path,
            sample.label,
            [],
            self._stat_info(index, 0),
            mask=sample.mask,
            mask_info=self._stat_info(index, 2) if sample.mask is not None else None,
        )
        result.findings.append(finding)
        self.flagged[index] = result

    def _flag_scale_outliers(self) -> dict[str, Any]:
        mask, median, factor = scale_outliers(self.magnitudes)
        for index in np.flatnonzero(mask):
            self._flag(
                int(index),
                warning(
                    "probe",
                    "scale_outlier",
                    f"max |input| {self.magnitudes[index]:.4g} is more than {factor:.3g}x off the"
                    f" dataset median {median:.4g}: wrong bit depth or value range?",
                ),
            )
        return {"median_magnitude": median, "outlier_factor": factor}

    def finish(self, elapsed: float, runner: dict[str, Any]) -> Report:
        if self.scanned != len(self.dataset.samples):
            raise RuntimeError(f"scanned {self.scanned} samples of {len(self.dataset.samples)} listed")
        scale = self._flag_scale_outliers() if self.config.probe else {}
        for index, finding in self.mask_stats.rare_value_findings().items():
            self._flag(index, finding)
        flagged = [self.flagged[i] for i in sorted(self.flagged)]
        error_indices = {r.index for r in flagged if r.has_error}
        return Report(self.dataset, self.config, flagged, self._summary(flagged, elapsed, runner, scale), error_indices)

    def _summary(
        self, flagged: list[SampleResult], elapsed: float, runner: dict[str, Any], scale: dict[str, Any]
    ) -> dict[str, Any]:
        findings: dict[str, dict[str, Any]] = {}
        for result in flagged:
            for key in dict.fromkeys(f"{f.check}:{f.code}" for f in result.findings):
                finding = next(f for f in result.findings if f"{f.check}:{f.code}" == key)
                entry = findings.setdefault(key, {"severity": finding.severity.value, "samples": 0, "examples": []})
                entry["samples"] += 1
                if len(entry["examples"]) < EXAMPLES_PER_CODE:
                    entry["examples"].append(result.path)
        by_check = Counter()
        for key, entry in findings.items():
            by_check[key.split(":")[0]] += entry["samples"]
        with_errors = sum(r.has_error for r in flagged)
        with_warnings = sum(r.has_warning for r in flagged)
        names = self.dataset.class_names
        n = len(self.dataset.samples)
        return {
            "dataset": {
                "kind": self.dataset.kind,
                "source": str(self.dataset.source),
                "root": str(self.dataset.root),
                "class_names": names,
                "task": self.config.task,
            },
            "samples": {
                "listed": n,
                "scanned": self.scanned,
                "clean": n - len(flagged),
                "without_errors": n - with_errors,
                "with_errors": with_errors,
                "with_warnings": with_warnings,
            },
            "findings": dict(sorted(findings.items(), key=lambda kv: (kv[1]["severity"], kv[0]))),
            "by_check": dict(sorted(by_check.items())),
            "classes": {
                "counts": {self._class_name(i): c for i, c in enumerate(self.class_counts)},
                "ignored": self.ignored,
                "empty": [self._class_name(i) for i, c in enumerate(self.class_counts) if c == 0],
            },
            **({"masks": self.mask_stats.summary(names)} if self.config.task == "segmentation" else {}),
            "formats": dict(self.formats.most_common()),
            "decoders": dict(self.decoders.most_common()),
            "probe": {
                "enabled": self.config.probe,
                "expected_untrained_loss": math.log(self.config.num_classes),
                "loss": {
                    "count": self.loss_count,
                    "mean": self.loss_sum / self.loss_count if self.loss_count else None,
                    "min": self.loss_min if self.loss_count else None,
                    "max": self.loss_max if self.loss_count else None,
                },
                "findings": {k: v["samples"] for k, v in findings.items() if k.startswith("probe:")},
                "scale": scale,
            },
            "elapsed_seconds": round(elapsed, 3),
            "samples_per_second": round(n / max(elapsed, 1e-6), 1),
            "config": self.config.to_dict(),
            "runner": runner,
            "versions": versions(),
        }
