"""The Collector folds streamed batches of results into a Report without holding clean samples.

Per batch it keeps counts and the flagged samples' results; dataset-wide checks (checks.kinds)
fold their per-sample statistics into their own state and give their verdict at the end.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from sanitize.checks import DATASET_CHECKS
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.findings import Finding
from sanitize.model import CleanSamples, ImageInfo, SampleResult
from sanitize.report import Report
from sanitize.report.summary import (
    ClassCounts,
    CodeCount,
    DatasetInfo,
    LossStats,
    ProbeSummary,
    RunnerInfo,
    SampleCounts,
    Summary,
    versions,
)

EXAMPLES_PER_CODE = 3


class Collector:
    """Folds streamed batches of results into a Report without holding clean samples."""

    def __init__(self, dataset: Dataset, config: ScanConfig, info: DatasetInfo) -> None:
        self.dataset = dataset
        self.config = config
        self.info = info
        n = len(dataset.samples)
        self.flagged: dict[int, SampleResult] = {}
        # size and mtime_ns of each sample's file and mask (-1: unknown), so that a sample flagged
        # only by a dataset-wide check can still be verified by quarantine
        self.file_stats = np.full((n, 4), -1, dtype=np.int64)
        self.class_counts = [0] * config.num_classes
        self.ignored = 0
        self.scanned = 0
        self.formats: Counter[str] = Counter()
        self.decoders: Counter[str] = Counter()
        self.loss_count, self.loss_sum = 0, 0.0
        self.loss_min, self.loss_max = math.inf, -math.inf
        self.dataset_checks = [check(config, n) for check in DATASET_CHECKS if check.applies(config)]

    def add(self, results: list[SampleResult]) -> None:
        for result in results:
            self.scanned += 1
            if result.findings:
                self.flagged[result.index] = result
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
                for value in result.mask_values:
                    if 0 <= value < self.config.num_classes:
                        self.class_counts[value] += 1  # segmentation: masks that hold the class
            self.formats[result.info.format or "unknown"] += 1
            self.decoders[result.info.decoder or "none"] += 1
        for check in self.dataset_checks:
            check.add(results)

    def add_clean(self, clean: CleanSamples) -> None:
        """Fold in samples known to have no finding, as columns: what `add` would do with their
        SampleResults, without building one per sample (an audit reuses most of a dataset)."""
        indices = np.asarray(clean.indices, dtype=np.intp)
        self.scanned += len(indices)
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
        for check in self.dataset_checks:
            check.add_clean(clean)

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

    def finish(self, elapsed: float, runner: RunnerInfo) -> Report:
        if self.scanned != len(self.dataset.samples):
            raise RuntimeError(f"scanned {self.scanned} samples of {len(self.dataset.samples)} listed")
        sections = {}
        for check in self.dataset_checks:
            for index, finding in check.verdict().items():
                self._flag(index, finding)
            sections[check.section] = check.summary(self.dataset.class_names)
        flagged = [self.flagged[i] for i in sorted(self.flagged)]
        error_indices = {r.index for r in flagged if r.has_error}
        summary = self._summary(flagged, elapsed, runner, sections)
        return Report(self.dataset, self.config, flagged, summary, error_indices)

    def _findings(self, flagged: list[SampleResult]) -> dict[str, CodeCount]:
        """Samples per code, with examples; errors first, then by name."""
        findings: dict[str, CodeCount] = {}
        for result in flagged:
            for finding in {f.name: f for f in reversed(result.findings)}.values():
                entry = findings.setdefault(finding.name, CodeCount(finding.severity.value))
                entry.samples += 1
                if len(entry.examples) < EXAMPLES_PER_CODE:
                    entry.examples.append(result.path)
        return dict(sorted(findings.items(), key=lambda kv: (kv[1].severity, kv[0])))

    def _summary(
        self, flagged: list[SampleResult], elapsed: float, runner: RunnerInfo, sections: dict[str, dict]
    ) -> Summary:
        findings = self._findings(flagged)
        by_check: Counter[str] = Counter()
        for name, entry in findings.items():
            by_check[name.split(":")[0]] += entry.samples
        with_errors = sum(r.has_error for r in flagged)
        n = len(self.dataset.samples)
        return Summary(
            dataset=self.info,
            samples=SampleCounts(
                listed=n,
                scanned=self.scanned,
                clean=n - len(flagged),
                without_errors=n - with_errors,
                with_errors=with_errors,
                with_warnings=sum(r.has_warning for r in flagged),
            ),
            findings=findings,
            by_check=dict(sorted(by_check.items())),
            classes=ClassCounts(
                counts={self._class_name(i): c for i, c in enumerate(self.class_counts)},
                ignored=self.ignored,
                empty=[self._class_name(i) for i, c in enumerate(self.class_counts) if c == 0],
            ),
            masks=sections.get("masks"),
            formats=dict(self.formats.most_common()),
            decoders=dict(self.decoders.most_common()),
            probe=ProbeSummary(
                enabled=self.config.probe,
                expected_untrained_loss=math.log(self.config.num_classes),
                loss=LossStats(
                    count=self.loss_count,
                    mean=self.loss_sum / self.loss_count if self.loss_count else None,
                    min=self.loss_min if self.loss_count else None,
                    max=self.loss_max if self.loss_count else None,
                ),
                findings={k: v.samples for k, v in findings.items() if k.startswith("probe:")},
                scale=sections.get("probe.scale", {}),
            ),
            elapsed_seconds=round(elapsed, 3),
            samples_per_second=round(n / max(elapsed, 1e-6), 1),
            config=self.config.to_dict(),
            runner=runner,
            versions=versions(),
        )
