"""The report folder: findings.jsonl, summary.json and clean.txt (and report.html: report.html),
written atomically, and the one reader of findings.jsonl (its writer's twin), which quarantine,
audit and `sanitize report` use.

findings.jsonl has one JSON object per sample with at least one finding, in dataset order:
`{"path", "label", "findings": [{"check", "code", "severity", "message"}], "info": {...}}`, plus
`mask` and `mask_info` for segmentation samples.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanitize.errors import SanitizeError
from sanitize.findings import Finding, UndeclaredFinding
from sanitize.model import SampleResult
from sanitize.remote import ObjectStore
from sanitize.report.summary import DatasetInfo
from sanitize.storage import atomic_write_text, json_text, make_folder

FINDINGS, SUMMARY, CLEAN = "findings.jsonl", "summary.json", "clean.txt"


def prepare_output(out: Path) -> None:
    """Create the report folder, or say in one line why it cannot be written."""
    make_folder(out, "report folder")
    if not os.access(out, os.W_OK):
        raise SanitizeError(f"cannot write to the report folder {out}")


class ReportFolder:
    """Where report files go: a local folder, each file written atomically (a temporary file renamed
    over it), or a prefix in object storage (`store`), each object written once and complete (a PUT
    replaces an object whole; there is no rename). Whoever writes a report writes summary.json
    last: a reader that finds it finds the other files of the same report."""

    def __init__(self, out: Path | str, store: ObjectStore | None = None) -> None:
        self.out = str(out).rstrip("/") if store is not None else Path(out)
        self.store = store

    def write_text(self, name: str, text: str | Iterable[str]) -> None:
        if self.store is None:
            atomic_write_text(self.out / name, text)
            return
        with self.store.filesystem().open(
            f"{self.out}/{name}", "w", encoding="utf-8", errors="surrogateescape"
        ) as handle:
            handle.writelines([text] if isinstance(text, str) else text)

    def remove(self, name: str) -> None:
        """Remove a file of the report if it is there (OSError when it cannot be)."""
        if self.store is None:
            (self.out / name).unlink(missing_ok=True)
        elif self.store.filesystem().exists(f"{self.out}/{name}"):
            self.store.filesystem().rm(f"{self.out}/{name}")

    def write_json(self, name: str, data: Any) -> None:
        """Strict JSON, valid UTF-8 whatever file names it holds (storage.json_text)."""
        self.write_text(name, json_text(data, indent=2) + "\n")


#: What XML 1.0 cannot hold (control characters; lone surrogates, e.g. undecodable file names).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escaped(character: str) -> str:
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that is no UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    return ascii(character)[1:-1]


def xml_text(text: str) -> str:
    """`text` with each character XML 1.0 cannot hold written as `\\xNN` (or `\\uNNNN`), so that
    an odd file name neither breaks an XML or HTML document nor vanishes from it: a byte of a name
    that is not UTF-8 is shown as that byte."""
    return _NOT_XML.sub(lambda m: _escaped(m.group()), text)


def findings_line(result: SampleResult) -> str:
    """The findings.jsonl line of a flagged sample (FindingsRecord reads it back)."""
    return json_text(result.to_record()) + "\n"


def findings_lines(results: Iterable[SampleResult]) -> Iterator[str]:
    """findings.jsonl, a line per flagged sample."""
    return map(findings_line, results)


@dataclass(frozen=True)
class FindingsRecord:
    """One line of findings.jsonl, read back and checked."""

    path: str
    label: str | None
    findings: tuple[Finding, ...]
    info: dict[str, Any]
    mask: str | None = None
    mask_info: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, line: str, number: int) -> FindingsRecord:
        """ValueError when the line is not a record this module's writer makes."""
        return cls.from_dict(json.loads(line), number)

    @classmethod
    def from_dict(cls, record: Any, number: int) -> FindingsRecord:
        """A record as SampleResult.to_record makes it (ValueError when it is not one)."""
        valid = (
            isinstance(record, dict)
            and isinstance(record.get("path"), str)
            and isinstance(record.get("label"), str | None)
            and isinstance(record.get("findings"), list)
            and all(
                isinstance(f, dict) and all(isinstance(f.get(key), str) for key in ("check", "code", "severity"))
                for f in record["findings"]
            )
            and isinstance(record.get("mask"), str | None)
            and all(isinstance(record.get(key), dict | None) for key in ("info", "mask_info"))
        )
        if not valid:
            raise ValueError(f"{FINDINGS} line {number} is not a findings record (path, findings, info)")
        try:
            findings = tuple(Finding.from_dict({"message": "", **f}) for f in record["findings"])
        except (UndeclaredFinding, ValueError) as exc:
            raise ValueError(f"{FINDINGS} line {number}: {exc}") from None
        return cls(
            record["path"],
            record.get("label"),
            findings,
            record.get("info") or {},
            record.get("mask"),
            record.get("mask_info"),
        )


@dataclass(frozen=True)
class ReadReport:
    """A report folder read back: the dataset it judged, its flagged samples and summary.json whole."""

    dataset: DatasetInfo
    records: list[FindingsRecord]
    summary: dict[str, Any]


def read_report(report_dir: Path) -> ReadReport:
    """The dataset section of summary.json and every findings.jsonl record, or a one-line SanitizeError."""
    try:
        summary = json.loads((report_dir / SUMMARY).read_text(encoding="utf-8"))
        lines = (report_dir / FINDINGS).read_text(encoding="utf-8").splitlines()
        records = [FindingsRecord.from_json(line, number) for number, line in enumerate(lines, 1) if line.strip()]
        dataset = DatasetInfo.from_dict(summary["dataset"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SanitizeError(f"{report_dir} is not a readable scan report: {exc!r}") from None
    return ReadReport(dataset, records, summary)
