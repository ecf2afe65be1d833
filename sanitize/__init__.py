"""sanitize: keep broken samples out of deep-learning training.

report = sanitize.scan("data/train.txt", num_classes=10)
if not report.valid:
    raise SystemExit(report.render())
"""

from sanitize.api import scan
from sanitize.audit import AuditDiff, AuditReport, FailOn, RunRecord, audit, history
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset, open_dataset
from sanitize.errors import SanitizeError
from sanitize.palette import read_palette
from sanitize.quarantine import QuarantineResult, RestoreResult, quarantine, restore
from sanitize.report import Report
from sanitize.types import Finding, ImageInfo, Sample, SampleResult, Severity

__all__ = [
    "AuditDiff",
    "AuditReport",
    "Dataset",
    "FailOn",
    "Finding",
    "ImageInfo",
    "QuarantineResult",
    "Report",
    "RestoreResult",
    "RunRecord",
    "Sample",
    "SampleResult",
    "SanitizeError",
    "ScanConfig",
    "Severity",
    "audit",
    "history",
    "open_dataset",
    "quarantine",
    "read_palette",
    "restore",
    "scan",
]
