"""The one scan core: prepare the input, check samples through the pipeline, fold the results,
write the report. `scan()` checks every sample; `audit()` (sanitize.audit) runs the same core
with reuse from its store around it.

Options are taken by name, each declared once: DatasetInput's (what the dataset is), ScanConfig's
(what is concluded) and RunOptions' (where the samples are checked).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sanitize import pipeline
from sanitize.config import RunOptions, ScanConfig
from sanitize.datasets import Dataset, DatasetInput, ListedSamples
from sanitize.errors import SanitizeError
from sanitize.load.palette import read_palette
from sanitize.model import BatchResult, Sample
from sanitize.remote import ObjectStore, is_url, store_of
from sanitize.report import Report
from sanitize.report.collector import Collector
from sanitize.report.files import prepare_output
from sanitize.report.summary import DatasetInfo, RunnerInfo
from sanitize.storage import make_folder

#: (samples done, samples in all: None until the listing is done, for a dataset listed as it is checked)
OnProgress = Callable[[int, int | None], None]
OnResults = Callable[[BatchResult], None]

_CONFIG_FIELDS = {item.name for item in fields(ScanConfig)} - DatasetInput.names()  # task, palette: from the input
_RUN_FIELDS = {item.name for item in fields(RunOptions)}


def split_options(options: dict[str, Any]) -> tuple[DatasetInput, dict[str, Any], RunOptions]:
    """(the input, ScanConfig's options, the runner's) from one set of keyword options."""
    unknown = sorted(set(options) - DatasetInput.names() - _CONFIG_FIELDS - _RUN_FIELDS)
    if unknown:
        raise TypeError(f"unexpected option(s): {', '.join(unknown)}")
    pick = lambda names: {k: v for k, v in options.items() if k in names}  # noqa: E731
    return DatasetInput(**pick(DatasetInput.names())), pick(_CONFIG_FIELDS), RunOptions(**pick(_RUN_FIELDS))


def resolve_config(dataset: Dataset, options: dict[str, Any]) -> ScanConfig:
    """The check configuration; the class count comes from the input only for an ImageFolder."""
    num_classes = options.get("num_classes")
    if num_classes is None:
        num_classes = dataset.num_classes
    if num_classes is None:
        raise SanitizeError(
            "--num-classes is required for list and CSV inputs (inferring it from the labels would hide bad labels)"
        )
    return ScanConfig(**{**options, "num_classes": num_classes, "task": dataset.task})


@dataclass
class Scan:
    """One scan under way: its dataset and configuration, and the Collector its results go to."""

    dataset: Dataset
    config: ScanConfig
    runner: RunOptions
    collector: Collector
    on_progress: OnProgress | None = None
    started: float = field(default_factory=time.perf_counter)
    #: The samples handed to the pipeline, in order: what the report is about.
    listed: ListedSamples | None = None
    #: How to reach the report folder when it is a prefix in object storage.
    out_store: ObjectStore | None = None

    @classmethod
    def start(
        cls,
        source: Path | str | None,
        options: dict[str, Any],
        *,
        out: Path | str | None,
        on_progress: OnProgress | None,
        folders: tuple[Path, ...] = (),
    ) -> Scan:
        """Open the input and resolve the configuration. The report folder `out` and any other
        `folders` the run writes to (an audit's store) are made first, so a failure is found before
        the work, not after it; `out` is never part of the dataset."""
        started = time.perf_counter()
        inputs, config_options, runner = split_options({**options, "source": source})
        for folder in folders:
            make_folder(folder)
        exclude: tuple[Path, ...] = ()
        out_store = store_of(str(out), inputs.storage_options) if out is not None and is_url(str(out)) else None
        if out is not None and out_store is None:
            prepare_output(Path(out))
            exclude = (Path(out),)
        dataset = inputs.open(exclude)
        if inputs.palette is not None:
            config_options["palette"] = read_palette(inputs.palette)
        against = inputs.references()
        config = resolve_config(dataset, config_options)
        if dataset.is_empty():
            raise SanitizeError(f"no samples found in {source or inputs.images}")
        info = DatasetInfo(
            kind=dataset.kind,
            source=str(dataset.source),
            root=str(dataset.root),
            class_names=dataset.class_names,
            task=config.task,
            real_root=str(dataset.root) if dataset.store else os.path.realpath(dataset.root),
            real_source=str(dataset.source) if dataset.store else os.path.realpath(dataset.source),
            path_column=inputs.path_column,
            exclude=[os.path.realpath(path) for path in (*inputs.exclude, *exclude)],
        )
        collector = Collector(dataset, config, info, against)
        return cls(dataset, config, runner, collector, on_progress, started, out_store=out_store)

    def _progress(self) -> None:
        if self.on_progress:
            self.on_progress(self.collector.scanned, self.dataset.size)

    def add(self, batch: BatchResult) -> None:
        """Fold in one batch's results (checked now, or reused by an audit)."""
        self.collector.add(batch)
        self._progress()

    def check(self, samples: Iterable[Sample], total: int | None = None, on_results: OnResults | None = None) -> str:
        """Check `samples` (drawn lazily; `total` of them, if known) through the pipeline, each batch
        passed to `on_results` (e.g. an audit's store) before it is folded in; returns what checked them."""

        if self.listed is None:
            self.listed = ListedSamples(self.dataset.root)

        def arrived(batch: BatchResult) -> None:
            if on_results is not None:
                on_results(batch)
            self.add(batch)

        return pipeline.run(
            self.listed.record(samples),
            self.dataset.root,
            self.config,
            arrived,
            scheduler=self.runner.scheduler,
            workers=self.runner.workers,
            total=total,
            store=self.dataset.store,
            sample_timeout=self.runner.sample_timeout or None,
        )

    def finish(
        self, checked_by: str | None, audit: dict[str, Any] | None = None, samples: list[Sample] | None = None
    ) -> Report:
        """The Report on the samples the pipeline drew, or on `samples` (an audit's: checked and
        reused alike), once each was checked or folded in from an audit's store."""
        runner = RunnerInfo(self.runner.scheduler, self.runner.workers, checked_by, audit)
        listed: Collection[Sample] = samples if samples is not None else self.listed or []
        if self.on_progress and self.dataset.size is None:
            self.on_progress(self.collector.scanned, len(listed))  # the total is known now
        return self.collector.finish(listed, time.perf_counter() - self.started, runner)


def scan(
    source: Path | str | None = None,
    *,
    out: Path | str | None = None,
    on_progress: OnProgress | None = None,
    **options: Any,
) -> Report:
    """Check every sample of a dataset and return the Report (also written to `out` if given).

    `options` are the fields of DatasetInput (root, path_column, label_column, task, images,
    masks, image_suffix, mask_suffix, palette, exclude), ScanConfig (num_classes, ignore_label,
    allow_mismatch, formats, max_pixels, max_file_bytes, probe, probe_scale, probe_mean,
    normalization, ...) and RunOptions (scheduler, workers). `scheduler` is None for this
    machine's cores (a local Dask cluster, or for at most config.FORK_LIMIT samples processes
    forked from this one), "local" for a local cluster always, "synchronous" to check in this
    process, or a Dask scheduler address.

    Segmentation: `source` a list file of `image mask` lines (recognised, or forced with
    task="segmentation"), or `images` and `masks` folders instead of `source`; `palette` a
    JSON file mapping RGB mask colours to classes (see sanitize.load.palette).
    """
    run = Scan.start(source, options, out=out, on_progress=on_progress)
    report = run.finish(run.check(run.dataset, total=run.dataset.size))
    if out is not None:
        report.write(out, run.out_store)
    return report
