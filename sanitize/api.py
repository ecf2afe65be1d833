"""The library entry points the CLI is a thin shell over."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sanitize import pipeline
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset, open_dataset
from sanitize.errors import SanitizeError
from sanitize.report import Collector, Report

OnProgress = Callable[[int, int], None]


def resolve_config(dataset: Dataset, num_classes: int | None, options: dict[str, Any]) -> ScanConfig:
    """The check configuration; the class count comes from the input only for an ImageFolder."""
    if num_classes is None:
        num_classes = dataset.num_classes
    if num_classes is None:
        raise SanitizeError(
            "--num-classes is required for list and CSV inputs (inferring it from the labels would hide bad labels)"
        )
    return ScanConfig(num_classes=num_classes, **options)


def prepare(
    source: Path | str,
    num_classes: int | None,
    root: Path | str | None,
    path_column: str,
    label_column: str,
    exclude: tuple[Path, ...],
    out: Path | str | None,
    options: dict[str, Any],
) -> tuple[Dataset, ScanConfig]:
    """The dataset (without the report folder `out`) and its check configuration."""
    if out is not None:
        exclude = (*exclude, Path(out))
    dataset = open_dataset(source, root=root, path_column=path_column, label_column=label_column, exclude=exclude)
    config = resolve_config(dataset, num_classes, options)
    if not dataset.samples:
        raise SanitizeError(f"no samples found in {source}")
    return dataset, config


def scan(
    source: Path | str,
    *,
    num_classes: int | None = None,
    root: Path | str | None = None,
    path_column: str = "path",
    label_column: str = "label",
    scheduler: str | None = None,
    workers: int | None = None,
    out: Path | str | None = None,
    exclude: tuple[Path, ...] = (),
    on_progress: OnProgress | None = None,
    **options: Any,
) -> Report:
    """Check every sample of a dataset and return the Report (also written to `out` if given).

    `options` are ScanConfig fields (ignore_label, allow_mismatch, formats, max_pixels, probe,
    probe_scale, probe_mean). `scheduler` is None for a local cluster on this machine's cores,
    "synchronous" to check in this process, or a Dask scheduler address.
    """
    started = time.perf_counter()
    dataset, config = prepare(source, num_classes, root, path_column, label_column, exclude, out, options)
    collector = Collector(dataset, config)
    total = len(dataset.samples)

    def on_results(results):
        collector.add(results)
        if on_progress:
            on_progress(collector.scanned, total)

    pipeline.run(dataset.samples, dataset.root, config, on_results, scheduler=scheduler, workers=workers)
    runner = {"scheduler": scheduler or "local", "workers": workers}
    report = collector.finish(time.perf_counter() - started, runner)
    if out is not None:
        report.write(Path(out))
    return report
