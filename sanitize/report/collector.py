"""The Collector folds streamed batches of results into a Report without holding clean samples.

Per batch it keeps counts; dataset-wide checks (checks.kinds) fold their per-sample statistics
into their own state and give their verdict at the end. Its memory does not grow with the
dataset: the flagged samples' results are spilled to a temporary file as they arrive (flagged),
and so are the files' size and mtime_ns, which a sample that only a dataset-wide check flags
needs in the report (so that quarantine can tell whether it changed since).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Iterator

import numpy as np

from sanitize.checks import DATASET_CHECKS
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.findings import Finding
from sanitize.model import BatchResult, CleanColumns, ImageInfo, Sample, SampleResult
from sanitize.report import Report
from sanitize.report.flagged import FlaggedResults, FlaggedTally, IndexSet
from sanitize.report.summary import (
    SIZE_BINS,
    ClassCounts,
    DatasetInfo,
    Histogram,
    LossStats,
    ProbeSummary,
    RunnerInfo,
    SampleCounts,
    SizeGrid,
    Summary,
    versions,
)
from sanitize.storage import Spill

#: Bins of the probe loss histogram.
LOSS_BINS = 30


def _size_bin(side: int) -> int:
    """The log2 bin of an image side (summary.SIZE_BINS)."""
    return min(max(side.bit_length() - 1, 0), SIZE_BINS - 1)


def _stat_info(size: int, mtime_ns: int) -> ImageInfo:
    """The info of a file as a spilled row's stats hold it (a size of -1: none was taken)."""
    return ImageInfo(size=size, mtime_ns=mtime_ns) if size >= 0 else ImageInfo()


class Collector:
    """Folds streamed batches of results into a Report without holding clean samples."""

    #: Per sample: its index, the size and mtime_ns of its file and of its mask (-1: unknown), its
    #: probe loss (NaN: none). Spilled to disk until the end: then the losses are summed exactly
    #: (math.fsum), so the mean does not depend on the order the batches arrived in.
    _ROW = np.dtype([("index", np.int64), ("stats", np.int64, (4,)), ("loss", np.float64)])

    def __init__(
        self, dataset: Dataset, config: ScanConfig, info: DatasetInfo, against: tuple[Dataset, ...] = ()
    ) -> None:
        self.dataset = dataset
        self.config = config
        self.info = info
        self.flagged = FlaggedResults()
        self.tally = FlaggedTally()
        self.rows = Spill(self._ROW)
        self.class_counts = np.zeros(config.num_classes, dtype=np.int64)
        self.ignored = 0
        self.scanned = 0
        self.formats: Counter[str] = Counter()
        self.decoders: Counter[str] = Counter()
        self.concealed: Counter[str] = Counter()
        self.sizes = np.zeros((SIZE_BINS, SIZE_BINS), dtype=np.int64)
        self.dataset_checks = [check(config, against) for check in DATASET_CHECKS if check.applies(config)]

    def add(self, batch: BatchResult) -> None:
        """Fold in one task's results."""
        self.add_columns(batch.clean)
        self.add_results(batch.flagged)

    def add_results(self, results: list[SampleResult]) -> None:
        """Fold in samples one result at a time: those with findings or a mask."""
        rows = np.full(len(results), -1, dtype=self._ROW)
        for row, result in enumerate(results):
            self.scanned += 1
            if result.findings:
                self.flagged.append(result)
                self.tally.add(result.index, result.path, result.findings)
            rows[row]["index"] = result.index
            rows[row]["loss"] = np.nan if result.loss is None else result.loss
            for column, info in ((0, result.info), (2, result.mask_info)):
                if info is not None and info.size is not None and info.mtime_ns is not None:
                    rows[row]["stats"][column : column + 2] = (info.size, info.mtime_ns)
            if result.label_index is not None:
                self.class_counts[result.label_index] += 1
            elif result.label is not None and not any(f.check == "label" for f in result.findings):
                self.ignored += 1  # parsed, valid, no class: the ignore label
            if result.mask_values is not None:
                for value in result.mask_values:
                    if 0 <= value < self.config.num_classes:
                        self.class_counts[value] += 1  # segmentation: masks that hold the class
            self._count_info(result.info, 1)
        self.rows.append(rows)
        for check in self.dataset_checks:
            check.add(results)

    def add_columns(self, clean: CleanColumns) -> None:
        """Fold in samples without findings as columns, vectorised: what `add_results` would do
        with their results, without an object per sample (most of a dataset comes this way)."""
        if not len(clean):
            return
        self.scanned += len(clean)
        rows = np.full(len(clean), -1, dtype=self._ROW)
        rows["index"] = clean.indices
        rows["stats"][:, :2] = clean.file_stats
        rows["loss"] = clean.losses
        self.rows.append(rows)
        np.add.at(self.class_counts, clean.class_index[clean.class_index >= 0], 1)
        self.ignored += int(np.count_nonzero(clean.labelled & (clean.class_index < 0)))  # the ignore label
        used, counts = np.unique(clean.info_index, return_counts=True)
        for position, count in zip(used.tolist(), counts.tolist(), strict=True):
            self._count_info(clean.infos[position], count)
        for check in self.dataset_checks:
            check.add_columns(clean)

    def _count_info(self, info: ImageInfo, samples: int) -> None:
        """Count `samples` samples of this format, decoder and size."""
        self.formats[info.format or "unknown"] += samples
        self.decoders[info.decoder or "none"] += samples
        if info.concealed:
            self.concealed[info.concealed] += samples
        if info.width and info.height:
            self.sizes[_size_bin(info.width), _size_bin(info.height)] += samples

    def _class_name(self, index: int) -> str:
        """The folder name of an ImageFolder class, else the index (also past the folders)."""
        names = self.dataset.class_names or []
        return names[index] if index < len(names) else str(index)

    def _verdicts(self, listed: Iterable[Sample]) -> dict[int, list[Finding]]:
        """Every dataset-wide finding, by sample index (in the order of DATASET_CHECKS)."""

        def samples_of(indices: Collection[int]) -> dict[int, Sample]:
            wanted = set(indices)
            return {sample.index: sample for sample in listed if sample.index in wanted} if wanted else {}

        found: dict[int, list[Finding]] = {}
        for check in self.dataset_checks:
            for index, finding in check.verdict(samples_of).items():
                found.setdefault(index, []).append(finding)
        return found

    def _append_newly_flagged(
        self, listed: Iterable[Sample], verdicts: dict[int, list[Finding]], indices: np.ndarray
    ) -> None:
        """Append a result for each sample at `indices`, which only a dataset-wide check flagged
        (its findings taken out of `verdicts`), with the size and mtime_ns its files had when
        checked, each spilled as soon as it is made: the stats of those samples gathered first from
        the spilled rows (32 bytes a sample), then one pass over the listed samples. (Made all at
        once, the results took about 600 bytes a sample until the last was spilled.)"""
        if not indices.size:
            return
        wanted = np.sort(indices)
        stats = np.full((len(wanted), 4), -1, dtype=np.int64)
        for rows in self.rows.chunks():
            hit = np.isin(rows["index"], wanted)
            stats[np.searchsorted(wanted, rows["index"][hit])] = rows["stats"][hit]
        flagged = IndexSet(wanted)
        for sample in listed:
            if sample.index not in flagged:
                continue
            size, mtime_ns, mask_size, mask_mtime_ns = stats[np.searchsorted(wanted, sample.index)].tolist()
            result = SampleResult(
                sample.index,
                sample.path,
                sample.label,
                verdicts.pop(sample.index),
                _stat_info(size, mtime_ns),
                mask=sample.mask,
                mask_info=None if sample.mask is None else _stat_info(mask_size, mask_mtime_ns),
            )
            self.flagged.append(result)
            self.tally.add(result.index, result.path, result.findings)

    def finish(self, listed: Collection[Sample], elapsed: float, runner: RunnerInfo) -> Report:
        """The Report on the `listed` samples (re-iterable, in order), once every one was added."""
        if self.scanned != len(listed):
            raise RuntimeError(f"scanned {self.scanned} samples of {len(listed)} listed")
        verdicts = self._verdicts(listed)
        judged = np.fromiter(verdicts, dtype=np.int64, count=len(verdicts))
        flagged_before = self.flagged.appended(judged)
        self._append_newly_flagged(listed, verdicts, judged[~flagged_before])
        self.flagged.seal()
        added = {index: verdicts[index] for index in judged[flagged_before].tolist()}
        for index, findings in added.items():
            before = self.flagged.by_index(index)
            self.tally.add(index, before.path, findings, before=before.findings)
        self.flagged.add_findings(added)
        sections = {check.section: check.summary(self.dataset.class_names) for check in self.dataset_checks}
        summary = self._summary(len(listed), elapsed, runner, sections)
        error_indices = IndexSet(np.frombuffer(self.tally.error_indices, dtype=np.int64))
        return Report(self.dataset, listed, self.config, self.flagged, summary, error_indices)

    def _loss_stats(self) -> LossStats:
        """Count, mean, min and max of the finite losses, read back chunk by chunk. The sum is exact
        (math.fsum streams), so the mean does not depend on the order the batches arrived in."""
        count, low, high = 0, math.inf, -math.inf

        def finite() -> Iterator[float]:
            nonlocal count, low, high
            for rows in self.rows.chunks():
                losses = rows["loss"][~np.isnan(rows["loss"])]
                if len(losses):
                    count += len(losses)
                    low, high = min(low, float(losses.min())), max(high, float(losses.max()))
                    yield from losses.tolist()

        total = math.fsum(finite())
        if not count:
            return LossStats(0, None, None, None)
        return LossStats(count, total / count, low, high, self._loss_histogram(low, high))

    def _loss_histogram(self, low: float, high: float) -> Histogram:
        """The finite losses in LOSS_BINS bins over low..high widened to take in ln(num_classes):
        one more pass over the spilled rows, chunk by chunk (bounded memory)."""
        expected = math.log(self.config.num_classes)
        low, high = min(low, expected), max(high, expected)
        if high <= low:
            high = low + 1.0
        counts = np.zeros(LOSS_BINS, dtype=np.int64)
        for rows in self.rows.chunks():
            losses = rows["loss"][~np.isnan(rows["loss"])]
            counts += np.histogram(losses, bins=LOSS_BINS, range=(low, high))[0]
        edges = np.linspace(low, high, LOSS_BINS + 1)
        return Histogram([round(float(edge), 6) for edge in edges], counts.tolist())

    def _summary(self, n: int, elapsed: float, runner: RunnerInfo, sections: dict[str, dict]) -> Summary:
        findings = self.tally.findings()
        by_check: Counter[str] = Counter()
        for name, entry in findings.items():
            by_check[name.split(":")[0]] += entry.samples
        with_errors = self.tally.with_errors
        return Summary(
            dataset=self.info,
            samples=SampleCounts(
                listed=n,
                scanned=self.scanned,
                clean=n - len(self.flagged),
                without_errors=n - with_errors,
                with_errors=with_errors,
                with_warnings=self.tally.with_warnings,
            ),
            findings=findings,
            by_check=dict(sorted(by_check.items())),
            classes=ClassCounts(
                counts={self._class_name(i): c for i, c in enumerate(self.class_counts.tolist())},
                ignored=self.ignored,
                empty=[self._class_name(i) for i in np.flatnonzero(self.class_counts == 0).tolist()],
            ),
            masks=sections.get("masks"),
            modes=sections["modes"],
            duplicates=sections["duplicates"],
            leakage=sections.get("leakage"),
            formats=dict(self.formats.most_common()),
            decoders=dict(self.decoders.most_common()),
            concealed=dict(self.concealed.most_common()),
            image_sizes=SizeGrid(
                cells=[[w, h, int(self.sizes[w, h])] for w, h in np.argwhere(self.sizes).tolist()],
                unknown=self.scanned - int(self.sizes.sum()),
            ),
            probe=ProbeSummary(
                enabled=self.config.probe,
                expected_untrained_loss=math.log(self.config.num_classes),
                loss=self._loss_stats(),
                findings={k: v.samples for k, v in findings.items() if k.startswith("probe:")},
                scale=sections.get("probe.scale", {}),
            ),
            elapsed_seconds=round(elapsed, 3),
            samples_per_second=round(n / max(elapsed, 1e-6), 1),
            config=self.config.to_dict(),
            runner=runner,
            versions=versions(),
        )
