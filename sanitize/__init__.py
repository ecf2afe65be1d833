"""sanitize: keep broken samples out of deep-learning training.

report = sanitize.scan("data/train.txt", num_classes=10)
if not report.valid:
    raise SystemExit(report.render())
"""

from sanitize.audit import AuditDiff, AuditReport, FailOn, RunRecord, audit, history
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset, DatasetInput, open_dataset
from sanitize.errors import SanitizeError
from sanitize.findings import (
    CATALOGUE,
    CHECK_DESCRIPTIONS,
    Code,
    Finding,
    Severity,
    codes_markdown,
    render_codes,
    select_codes,
)
from sanitize.load.palette import read_palette
from sanitize.model import ImageInfo, Sample, SampleResult
from sanitize.pipeline import RunOptions
from sanitize.quarantine import QuarantineResult, RestoreResult, quarantine, restore
from sanitize.report import Report
from sanitize.report.summary import Summary
from sanitize.scan import scan

__all__ = [
    "CATALOGUE",
    "CHECK_DESCRIPTIONS",
    "AuditDiff",
    "AuditReport",
    "Code",
    "Dataset",
    "DatasetInput",
    "FailOn",
    "Finding",
    "ImageInfo",
    "QuarantineResult",
    "Report",
    "RestoreResult",
    "RunOptions",
    "RunRecord",
    "Sample",
    "SampleResult",
    "SanitizeError",
    "ScanConfig",
    "Severity",
    "Summary",
    "audit",
    "codes_markdown",
    "history",
    "open_dataset",
    "quarantine",
    "read_palette",
    "render_codes",
    "restore",
    "scan",
    "select_codes",
]
