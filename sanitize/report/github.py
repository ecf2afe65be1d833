"""GitHub Actions outputs: a finding as an annotation on the run (`::error title=...::path:
message`, a workflow command read from the step's output), and a markdown table appended to the
job's summary page (the file named by $GITHUB_STEP_SUMMARY).

Values are escaped as GitHub's own toolkit does (actions/toolkit, packages/core/src/command.ts):
in a command's message `%`, `\\r` and `\\n` become `%25`, `%0D` and `%0A`; in a property (`title=`)
`:` and `,` too, which would otherwise end the property early. GitHub makes annotations of at
most 10 errors and 10 warnings per step and 50 per job (actions/toolkit, docs/problem-matchers.md,
"Limitations"); the other commands stay highlighted in the log. So at most ANNOTATIONS are
printed, errors first, then one line counting the rest: every finding is in findings.jsonl. No
`file=` property: a sample's path is relative to the dataset's root, not to the repository GitHub
would link it to.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import TextIO

from sanitize.errors import SanitizeError
from sanitize.findings import Finding
from sanitize.model import SampleResult
from sanitize.report import Report
from sanitize.report.files import xml_text

ANNOTATIONS = 50


def escape_data(text: str) -> str:
    """A workflow command's message, escaped (GitHub's escapeData)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value, escaped (GitHub's escapeProperty)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(result: SampleResult, finding: Finding) -> str:
    """`::error title=check:code::path: message` (or `::warning`) for one finding of one sample."""
    kind = "error" if finding.is_error else "warning"
    message = xml_text(f"{result.path}: {finding.message}")  # a name's bytes that are not UTF-8 as \xNN
    return f"::{kind} title={escape_property(finding.name)}::{escape_data(message)}"


def annotations(flagged: list[SampleResult], limit: int = ANNOTATIONS) -> Iterator[str]:
    """At most `limit` annotations, errors before warnings, each in dataset order; then, if some
    were left out, a line counting them."""
    shown = total = 0
    for errors in (True, False):
        for result in flagged:
            for finding in result.findings:
                if finding.is_error is errors:
                    total += 1
                    if shown < limit:
                        shown += 1
                        yield annotation(result, finding)
    if total > shown:
        yield f"sanitize: {total - shown:,} more findings not annotated (at most {limit} are): see findings.jsonl"


def _cell(text: str) -> str:
    """`text` as inline code in a markdown table cell: a fence longer than any backtick run in it,
    `|` escaped (it splits cells even inside code: GitHub Flavored Markdown, tables extension); what
    valid UTF-8 cannot hold (the bytes of a file name that are not UTF-8) shown as `\\xNN`."""
    text = xml_text(text.replace("\r", " ").replace("\n", " "))
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def step_summary(report: Report, exit_code: int, verdict: str, title: str = "sanitize") -> str:
    """The markdown appended to the job summary: the verdict, then a row per finding code (the
    summary's counts and example paths)."""
    mark = "PASS" if exit_code == 0 else "FAIL"
    lines = [f"### {title}: {mark}", "", verdict, ""]
    findings = report.summary.findings
    if findings:
        lines += ["| finding | severity | samples | examples |", "|---|---|---:|---|"]
        for code, entry in findings.items():
            examples = ", ".join(_cell(path) for path in entry.examples)
            more = ", ..." if entry.samples > len(entry.examples) else ""
            lines.append(f"| `{code}` | {entry.severity} | {entry.samples:,} | {examples}{more} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def report_to_github(
    report: Report,
    exit_code: int,
    verdict: str,
    *,
    title: str = "sanitize",
    environ: Mapping[str, str] = os.environ,
    stream: TextIO | None = None,
) -> bool:
    """Under GitHub Actions (GITHUB_ACTIONS=true), print the annotations to `stream` (stdout) and
    append the step summary to $GITHUB_STEP_SUMMARY when it is set; False, doing nothing, elsewhere."""
    if environ.get("GITHUB_ACTIONS") != "true":
        return False
    stream = stream or sys.stdout
    for line in annotations(report.flagged):
        stream.write(line + "\n")
    stream.flush()
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(step_summary(report, exit_code, verdict, title))
        except OSError as exc:
            raise SanitizeError(f"cannot append to $GITHUB_STEP_SUMMARY {summary}: {exc.strerror or exc}") from None
    return True
