"""What a scan concluded: the Report (the gate's verdict), built by the Collector from streamed
batches of results, written to the report folder (files) with a typed summary (summary)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sanitize.config import ScanConfig
from sanitize.datasets import Dataset, ListedSamples
from sanitize.errors import SanitizeError
from sanitize.model import Sample, SampleResult
from sanitize.remote import ObjectStore
from sanitize.report.files import (
    CLEAN,
    FINDINGS,
    SUMMARY,
    FindingsRecord,
    ReportFolder,
    findings_lines,
    prepare_output,
)
from sanitize.report.html import write_html
from sanitize.report.summary import Summary

EMPTY_CLASSES_SHOWN = 20


@dataclass
class Report:
    """What a scan concluded. `valid` and `exit_code` are the gate's verdict."""

    dataset: Dataset
    #: The samples the report is about, in order, as the scan drew them (re-iterable).
    listed: Collection[Sample]
    config: ScanConfig
    #: The flagged samples' results in sample-index order (report.flagged.FlaggedResults reads
    #: them back from a temporary file one at a time: a scan's client does not hold them).
    flagged: Sequence[SampleResult]
    summary: Summary
    #: The samples with an error (report.flagged.IndexSet after a scan: a bit a sample).
    error_indices: AbstractSet[int] = field(default_factory=frozenset)
    #: Why report.html was not written by the last `write` (None: it was); the verdict never depends on it.
    html_problem: str | None = None

    @property
    def samples(self) -> list[Sample]:
        """Every sample scanned, in a list (clean_samples() streams them)."""
        return list(self.listed)

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
        return (s for s in self.listed if s.index not in self.error_indices)

    def clean_lines(self) -> Iterator[str]:
        """clean.txt in Caffe list format; labels normalised to plain integers."""
        listed = self.listed
        rows = (
            listed.rows() if isinstance(listed, ListedSamples) else ((s.index, s.path, s.label, s.mask) for s in listed)
        )
        errors = self.error_indices
        for index, path, label, mask in rows:
            if index in errors:
                continue
            if mask is not None:
                yield f"{path} {mask}\n"
            else:
                yield f"{path} {int(label)}\n" if label is not None else f"{path}\n"

    def write(self, out: Path | str, store: ObjectStore | None = None, also: dict[str, Any] | None = None) -> None:
        """findings.jsonl, clean.txt, the `also` JSON files (an audit's diff.json), report.html and,
        last, summary.json into `out`: a local folder, or a prefix in object storage through `store`.
        A report.html that cannot be drawn or written is left out, the reason in `html_problem`."""
        if store is None:
            prepare_output(Path(out))
        folder = ReportFolder(out, store)
        summary = self.summary.to_dict()
        try:
            folder.write_text(FINDINGS, findings_lines(self.flagged))
            folder.write_text(CLEAN, self.clean_lines())
            for name, data in (also or {}).items():
                folder.write_json(name, data)
            records = (FindingsRecord.from_dict(result.to_record(), n) for n, result in enumerate(self.flagged, 1))
            self.html_problem = write_html(folder, summary, records, self.config)
            folder.write_json(SUMMARY, summary)
        except OSError as exc:
            raise SanitizeError(f"cannot write the report to {out}: {exc.strerror or exc}") from None

    def render(self, max_errors: int = 0) -> str:
        """The terminal table: counts per check/code with example paths, then the verdict."""
        lines = []
        findings = self.summary.findings
        if findings:
            width = max(len(code) for code in findings)
            lines.append(f"{'finding':<{width}}  {'severity':<8}  {'samples':>7}  examples")
            for code, entry in findings.items():
                examples = ", ".join(entry.examples)
                more = " ..." if entry.samples > len(entry.examples) else ""
                lines.append(f"{code:<{width}}  {entry.severity:<8}  {entry.samples:>7}  {examples}{more}")
            lines.append("")
        if pixels := self.summary.concealed.get("pixels"):
            lines.append(
                f"concealed JPEG corruption: {pixels:,} JPEGs judged from their pixels alone, with about a third of"
                " the recall (the compiled decoder is missing where they were checked, or does not read them)"
            )
        empty = self.summary.classes.empty
        if empty:
            shown = ", ".join(map(str, empty[:EMPTY_CLASSES_SHOWN]))
            more = f" and {len(empty) - EMPTY_CLASSES_SHOWN:,} more" if len(empty) > EMPTY_CLASSES_SHOWN else ""
            lines.append(f"classes with no samples ({len(empty):,}): {shown}{more}")
        lines.append(self.verdict(max_errors))
        return "\n".join(lines)

    def verdict(self, max_errors: int = 0) -> str:
        """The verdict in one line, as the terminal table ends (and CI outputs repeat it)."""
        counts = self.summary.samples
        rate = self.summary.samples_per_second
        verdict = "PASS" if self.exit_code(max_errors) == 0 else "FAIL"
        tolerance = f" (--max-errors {max_errors})" if max_errors else ""
        return (
            f"{verdict}: {counts.with_errors} of {counts.scanned} samples have errors{tolerance},"
            f" {counts.with_warnings} with warnings; {rate:,.0f} samples/s"
        )
