"""summary.json as typed data: what a scan concluded about the dataset as a whole.

Built whole, once, by the Collector at the end of a scan (nothing is patched in afterwards),
read by attribute, and written with `to_dict` in a fixed key order. `DatasetInfo` also says
where the dataset is on disk, so that `sanitize quarantine` can act on a report from anywhere.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any


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


@dataclass
class DatasetInfo:
    """The dataset a report judged: as given, and resolved (real_*), so it can be found again."""

    kind: str
    source: str
    root: str
    class_names: list[str] | None
    task: str
    real_root: str
    real_source: str
    path_column: str
    exclude: list[str]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetInfo:
        """The `dataset` section of a summary.json (KeyError/TypeError when it is not one)."""
        if not isinstance(data, dict):
            raise TypeError("the dataset section is not an object")
        return cls(
            kind=str(data["kind"]),
            source=str(data["source"]),
            root=str(data["root"]),
            class_names=data.get("class_names"),
            task=str(data.get("task", "classification")),
            real_root=str(data.get("real_root") or os.path.realpath(data["root"])),
            real_source=str(data.get("real_source") or data["source"]),
            path_column=str(data.get("path_column", "path")),
            exclude=[str(path) for path in data.get("exclude", [])],
        )


@dataclass
class SampleCounts:
    listed: int
    scanned: int
    clean: int
    without_errors: int
    with_errors: int
    with_warnings: int


@dataclass
class CodeCount:
    """How many samples have one finding code, with the first few as examples."""

    severity: str
    samples: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class ClassCounts:
    """Samples per class (masks holding it, for segmentation), ignore-label samples, empty classes."""

    counts: dict[str, int]
    ignored: int
    empty: list[str]


@dataclass
class Histogram:
    """Counts in fixed bins: `counts[i]` values fell in [edges[i], edges[i + 1]) (the last bin is closed)."""

    edges: list[float]
    counts: list[int]


@dataclass
class LossStats:
    """The finite probe losses: expect a mean near ln(num_classes) from an untrained net. The
    histogram spans min..max, widened to take in ln(num_classes) (report.html plots it)."""

    count: int
    mean: float | None
    min: float | None
    max: float | None
    histogram: Histogram | None = None


#: Image sizes are binned by the base-2 logarithm of each side: bin k holds sides 2**k to 2**(k+1) - 1.
SIZE_BINS = 16


@dataclass
class SizeGrid:
    """Decoded images by width and height, in log2 bins (bounded: at most SIZE_BINS**2 cells):
    `cells` holds [width bin, height bin, samples] for the bins that have samples; `unknown`
    counts the samples whose size is not known (not decoded)."""

    cells: list[list[int]]
    unknown: int


@dataclass
class ProbeSummary:
    enabled: bool
    expected_untrained_loss: float
    loss: LossStats
    findings: dict[str, int]
    scale: dict[str, Any]


@dataclass
class RunnerInfo:
    """What checked the samples; `audit` says what an audit reused (None for a scan)."""

    scheduler: str | None
    workers: int | None
    checked_by: str | None
    audit: dict[str, Any] | None = None


@dataclass
class Summary:
    """summary.json. `masks` is there for segmentation only, `leakage` with --against only."""

    dataset: DatasetInfo
    samples: SampleCounts
    findings: dict[str, CodeCount]
    by_check: dict[str, int]
    classes: ClassCounts
    masks: dict[str, Any] | None
    modes: dict[str, Any]
    duplicates: dict[str, Any]
    leakage: dict[str, Any] | None
    formats: dict[str, int]
    decoders: dict[str, int]
    #: JPEGs by how they were looked at for concealed corruption (ImageInfo.concealed).
    concealed: dict[str, int]
    image_sizes: SizeGrid
    probe: ProbeSummary
    elapsed_seconds: float
    samples_per_second: float
    config: dict[str, Any]
    runner: RunnerInfo
    versions: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for optional in ("masks", "leakage"):
            if data[optional] is None:
                del data[optional]
        if self.runner.audit is None:
            del data["runner"]["audit"]
        return data
