"""The library entry points the CLI is a thin shell over."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sanitize import pipeline
from sanitize.config import TASKS, ScanConfig
from sanitize.datasets import Dataset, folderpairs, open_dataset
from sanitize.errors import SanitizeError
from sanitize.palette import read_palette
from sanitize.report import Collector, Report, prepare_output

OnProgress = Callable[[int, int], None]


def resolve_config(dataset: Dataset, num_classes: int | None, options: dict[str, Any]) -> ScanConfig:
    """The check configuration; the class count comes from the input only for an ImageFolder."""
    if num_classes is None:
        num_classes = dataset.num_classes
    if num_classes is None:
        raise SanitizeError(
            "--num-classes is required for list and CSV inputs (inferring it from the labels would hide bad labels)"
        )
    return ScanConfig(num_classes=num_classes, **{**options, "task": dataset.task})


def open_input(
    source: Path | str | None,
    *,
    images: Path | str | None = None,
    masks: Path | str | None = None,
    image_suffix: str = "",
    mask_suffix: str = "",
    task: str | None = None,
    root: Path | str | None = None,
    path_column: str = "path",
    label_column: str = "label",
    exclude: tuple[Path, ...] = (),
) -> Dataset:
    """The dataset named by `source` (see open_dataset), or by an `images`/`masks` folder pair."""
    if task not in (None, *TASKS):
        raise SanitizeError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    pairs = images is not None or masks is not None
    if pairs == (source is not None) or (images is None) != (masks is None):
        raise SanitizeError("give a DATASET, or --images DIR and --masks DIR (not both)")
    if not pairs:
        return open_dataset(
            source, root=root, path_column=path_column, label_column=label_column, exclude=exclude, task=task
        )
    if task == "classification":
        raise SanitizeError("--images/--masks are a segmentation dataset; drop --task classification")
    return folderpairs.read(
        Path(images),
        Path(masks),
        image_suffix=image_suffix,
        mask_suffix=mask_suffix,
        root=Path(root) if root is not None else None,
        exclude=exclude,
    )


def prepare(
    source: Path | str | None,
    num_classes: int | None,
    options: dict[str, Any],
    *,
    out: Path | str | None,
    exclude: tuple[Path, ...],
    palette: Path | str | None,
    **inputs: Any,
) -> tuple[Dataset, ScanConfig, tuple[Path, ...]]:
    """(the dataset, its check configuration, what was excluded): the report folder `out` is
    never part of the dataset. `inputs` are open_input's keyword arguments."""
    if out is not None:
        prepare_output(Path(out))  # fail before the work, not after it
        exclude = (*exclude, Path(out))
    dataset = open_input(source, task=options.pop("task", None), exclude=exclude, **inputs)
    if palette is not None:
        options["palette"] = read_palette(palette)
    config = resolve_config(dataset, num_classes, options)
    if not dataset.samples:
        raise SanitizeError(f"no samples found in {source or inputs.get('images')}")
    return dataset, config, exclude


def locate(report: Report, dataset: Dataset, path_column: str, exclude: tuple[Path, ...]) -> None:
    """Add what `sanitize quarantine` needs to act on the report from anywhere to its summary."""
    report.summary["dataset"].update(
        real_root=os.path.realpath(dataset.root),
        real_source=os.path.realpath(dataset.source),
        path_column=path_column,
        exclude=[os.path.realpath(path) for path in exclude],
    )


def scan(
    source: Path | str | None = None,
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
    images: Path | str | None = None,
    masks: Path | str | None = None,
    image_suffix: str = "",
    mask_suffix: str = "",
    palette: Path | str | None = None,
    **options: Any,
) -> Report:
    """Check every sample of a dataset and return the Report (also written to `out` if given).

    `options` are ScanConfig fields (ignore_label, allow_mismatch, formats, max_pixels, probe,
    probe_scale, probe_mean). `scheduler` is None for this machine's cores (a local Dask cluster,
    or for at most pipeline.FORK_LIMIT samples processes forked from this one), "local" for a
    local cluster always, "synchronous" to check in this process, or a Dask scheduler address.

    Segmentation: `source` a list file of `image mask` lines (recognised, or forced with
    task="segmentation"), or `images` and `masks` folders instead of `source`; `palette` a
    JSON file mapping RGB mask colours to classes (see sanitize.palette).
    """
    started = time.perf_counter()
    dataset, config, exclude = prepare(
        source,
        num_classes,
        options,
        out=out,
        exclude=exclude,
        palette=palette,
        images=images,
        masks=masks,
        image_suffix=image_suffix,
        mask_suffix=mask_suffix,
        root=root,
        path_column=path_column,
        label_column=label_column,
    )
    collector = Collector(dataset, config)
    total = len(dataset.samples)

    def on_results(results):
        collector.add(results)
        if on_progress:
            on_progress(collector.scanned, total)

    checked_by = pipeline.run(dataset.samples, dataset.root, config, on_results, scheduler=scheduler, workers=workers)
    runner = {"scheduler": scheduler, "workers": workers, "checked_by": checked_by}
    report = collector.finish(time.perf_counter() - started, runner)
    locate(report, dataset, path_column, exclude)
    if out is not None:
        report.write(Path(out))
    return report
