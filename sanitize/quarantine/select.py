"""What quarantine acts on: the scan report read back, the findings selected, and QDIR checked.

A report is read as data from disk, possibly from another machine or edited by hand, so each
findings record is checked to hold what quarantine reads of it before anything moves; a report
that does not is a one-line error. `--only` selectors are checked against the names of the checks,
and codes of the findings catalogue, so that a typo is an error instead of selecting nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sanitize.errors import SanitizeError
from sanitize.findings import Finding, parse_selector
from sanitize.remote import is_url
from sanitize.report.files import FindingsRecord
from sanitize.report.files import read_report as read_scan_report


@dataclass
class ReportedDataset:
    """What a report directory says about the dataset it judged, resolved: where to act."""

    kind: str
    source: Path
    root: Path
    path_column: str
    exclude: list[Path]
    records: list[FindingsRecord]


#: Datasets that are containers of samples (datasets.lmdbfile, datasets.webdataset), not files to move.
CONTAINERS = {"lmdb": "a Caffe LMDB", "webdataset": "WebDataset tar shards"}


def read_report(report_dir: Path) -> ReportedDataset:
    """The dataset a scan report judged and its findings records (report.files' reader), or SanitizeError."""
    report = read_scan_report(report_dir)
    dataset = report.dataset
    if dataset.kind in CONTAINERS:
        raise SanitizeError(
            f"quarantine of {CONTAINERS[dataset.kind]} is not supported: its samples cannot be moved out without"
            " rewriting it, and the original is never modified. findings.jsonl names the flagged samples: skip them"
            " in your loader, or rebuild the container without them"
        )
    if is_url(dataset.real_root):
        raise SanitizeError(
            f"quarantine of a dataset in object storage ({dataset.real_root}) is not supported yet: move the"
            " objects findings.jsonl names with your provider's tools (clean.txt lists the rest), or scan a local copy"
        )
    reported = ReportedDataset(
        kind=dataset.kind,
        source=Path(dataset.real_source),
        root=Path(dataset.real_root),
        path_column=dataset.path_column,
        exclude=[Path(p) for p in dataset.exclude],
        records=report.records,
    )
    if not reported.root.is_dir():
        raise SanitizeError(f"the dataset root of this report is not a directory: {reported.root}")
    return reported


def check_qdir(qdir: Path, dataset: ReportedDataset) -> Path:
    """QDIR resolved; refused inside the dataset root (a re-scan would see it) unless the scan excluded it."""
    real = Path(os.path.realpath(qdir))
    if os.path.exists(real) and not real.is_dir():
        raise SanitizeError(f"the quarantine folder {qdir} exists and is not a folder")
    if dataset.root.is_relative_to(real):
        raise SanitizeError(f"the quarantine folder {qdir} contains the dataset root {dataset.root}")
    excluded = any(real.is_relative_to(ex) for ex in dataset.exclude)
    if real.is_relative_to(dataset.root) and not excluded:
        raise SanitizeError(
            f"the quarantine folder {qdir} is inside the dataset root {dataset.root}, where a re-scan would see it;"
            " choose a folder outside it, or scan with --exclude QDIR"
        )
    return real


def parse_only(only: Iterable[str]) -> list[tuple[str, str | None]]:
    """`CHECK` or `CHECK:CODE` selectors, each validated against the findings catalogue: a typo
    would select nothing, so it is an error, with the closest name suggested."""
    return [parse_selector(text) for text in only]


def selected_findings(
    record: FindingsRecord, include_warnings: bool, selectors: list[tuple[str, str | None]]
) -> list[Finding]:
    """The findings that make this sample move: errors (and warnings if asked), narrowed by --only."""
    return [
        f
        for f in record.findings
        if (f.is_error or include_warnings)
        and (not selectors or any(f.check == c and code in (None, f.code) for c, code in selectors))
    ]
