"""What quarantine acts on: the scan report read back, the findings selected, and QDIR checked.

A report is read as data from disk, possibly from another machine or edited by hand, so each
findings record is checked to hold what quarantine reads of it before anything moves; a report
that does not is a one-line error. `--only` selectors are checked against the names of the checks,
so that a typo is an error instead of selecting nothing.
"""

from __future__ import annotations

import json
import os
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanitize import checks
from sanitize.errors import SanitizeError


@dataclass
class ReportedDataset:
    """What a report directory says about the dataset it judged."""

    kind: str
    source: Path
    root: Path
    path_column: str
    exclude: list[Path]
    records: list[dict[str, Any]]


def read_report(report_dir: Path) -> ReportedDataset:
    """The dataset a scan report judged and its findings records, or SanitizeError if it cannot be read."""
    try:
        summary = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
        lines = (report_dir / "findings.jsonl").read_text(encoding="utf-8").splitlines()
        records = [_findings_record(line, number) for number, line in enumerate(lines, 1) if line.strip()]
        dataset = summary["dataset"]
        reported = ReportedDataset(
            kind=dataset["kind"],
            source=Path(dataset.get("real_source") or dataset["source"]),
            root=Path(dataset.get("real_root") or os.path.realpath(dataset["root"])),
            path_column=dataset.get("path_column", "path"),
            exclude=[Path(p) for p in dataset.get("exclude", [])],
            records=records,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SanitizeError(f"{report_dir} is not a readable scan report: {exc!r}") from None
    if not reported.root.is_dir():
        raise SanitizeError(f"the dataset root of this report is not a directory: {reported.root}")
    return reported


def _findings_record(line: str, number: int) -> dict[str, Any]:
    """One findings.jsonl record, checked to hold what quarantine reads of it (ValueError if not)."""
    record = json.loads(line)
    valid = (
        isinstance(record, dict)
        and isinstance(record.get("path"), str)
        and isinstance(record.get("findings"), list)
        and all(
            isinstance(f, dict) and all(isinstance(f.get(key), str) for key in ("check", "code", "severity"))
            for f in record["findings"]
        )
        and isinstance(record.get("mask"), str | None)
        and all(isinstance(record.get(key), dict | None) for key in ("info", "mask_info"))
    )
    if not valid:
        raise ValueError(f"findings.jsonl line {number} is not a findings record (path, findings, info)")
    return record


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


def check_names() -> set[str]:
    """The CHECK part a finding's code can have: one per module of sanitize.checks (the mask_* modules
    are all `mask`), plus the findings of decoding, of the probe, and of a check that failed."""
    modules = {module.name.partition("_")[0] for module in pkgutil.iter_modules(checks.__path__)}
    return modules | {"decode", "probe", "internal"}


def parse_only(only: Iterable[str]) -> list[tuple[str, str | None]]:
    """`CHECK` or `CHECK:CODE` selectors; an unknown CHECK (a typo would select nothing) is an error."""
    selectors = []
    known = check_names()
    for text in only:
        check, _, code = text.partition(":")
        if not check or (":" in text and not code):
            raise SanitizeError(f"--only takes CHECK or CHECK:CODE (e.g. decode or decode:truncated), got {text!r}")
        if check not in known:
            raise SanitizeError(f"--only {text!r}: no check is called {check!r} (known: {', '.join(sorted(known))})")
        selectors.append((check, code or None))
    return selectors


def selected_findings(
    record: dict[str, Any], include_warnings: bool, selectors: list[tuple[str, str | None]]
) -> list[dict[str, Any]]:
    """The findings that make this sample move: errors (and warnings if asked), narrowed by --only."""
    return [
        f
        for f in record["findings"]
        if (f["severity"] == "error" or include_warnings)
        and (not selectors or any(f["check"] == c and code in (None, f["code"]) for c, code in selectors))
    ]
