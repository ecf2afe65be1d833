"""sanitize: keep broken samples out of deep-learning training.

report = sanitize.scan("data/train.txt", num_classes=10)
if not report.valid:
    raise SystemExit(report.render())

The public names below load their module on first use, so `import sanitize` (and `sanitize
--help`) does not load Dask, the decoders or numpy before they are needed. `scan`, `audit` and
`quarantine` are functions, although modules of those names exist too (the scan core, and the
audit and quarantine packages): `sanitize.audit` is always the function. Reach the modules with
`from sanitize.audit.store import ...` or `importlib.import_module("sanitize.audit.store")`;
`import sanitize.audit.store as store` does not work (Python takes `sanitize.audit` on the way).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

#: Each public name and the module that defines it.
_PUBLIC = {
    "AuditDiff": "sanitize.audit.diff",
    "AuditReport": "sanitize.audit",
    "CATALOGUE": "sanitize.findings",
    "CHECK_DESCRIPTIONS": "sanitize.findings",
    "Code": "sanitize.findings",
    "Dataset": "sanitize.datasets",
    "DatasetInput": "sanitize.datasets",
    "FailOn": "sanitize.config",
    "Finding": "sanitize.findings",
    "ImageInfo": "sanitize.model",
    "QuarantineResult": "sanitize.quarantine",
    "Report": "sanitize.report",
    "RestoreResult": "sanitize.quarantine",
    "RunOptions": "sanitize.config",
    "RunRecord": "sanitize.audit.store",
    "Sample": "sanitize.model",
    "SampleResult": "sanitize.model",
    "SanitizeError": "sanitize.errors",
    "ScanConfig": "sanitize.config",
    "Severity": "sanitize.findings",
    "Summary": "sanitize.report.summary",
    "audit": "sanitize.audit",
    "codes_markdown": "sanitize.findings",
    "history": "sanitize.audit.store",
    "junit_xml": "sanitize.report.junit",
    "open_dataset": "sanitize.datasets",
    "quarantine": "sanitize.quarantine",
    "read_palette": "sanitize.load.palette",
    "render_codes": "sanitize.findings",
    "render_report": "sanitize.report.html",
    "report_to_github": "sanitize.report.github",
    "restore": "sanitize.quarantine",
    "scan": "sanitize.scan",
    "select_codes": "sanitize.findings",
    "write_junit": "sanitize.report.junit",
}
__all__ = sorted(_PUBLIC)


def _load(name: str) -> Any:
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def _function_over_module(name: str) -> property:
    """`name` is the function even once the module of the same name is imported (the import system
    then sets the package's attribute to the module: that assignment is let go)."""
    return property(lambda package: _load(name), lambda package, module: None)


class _Package(types.ModuleType):
    scan = _function_over_module("scan")
    audit = _function_over_module("audit")
    quarantine = _function_over_module("quarantine")

    def __getattr__(self, name: str) -> Any:
        if name not in _PUBLIC:
            raise AttributeError(f"module 'sanitize' has no attribute {name!r}")
        value = _load(name)
        setattr(self, name, value)
        return value

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *_PUBLIC})


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from sanitize.audit import AuditReport, audit
    from sanitize.audit.diff import AuditDiff
    from sanitize.audit.store import RunRecord, history
    from sanitize.config import FailOn, RunOptions, ScanConfig
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
    from sanitize.quarantine import QuarantineResult, RestoreResult, quarantine, restore
    from sanitize.report import Report
    from sanitize.report.github import report_to_github
    from sanitize.report.html import render_report
    from sanitize.report.junit import junit_xml, write_junit
    from sanitize.report.summary import Summary
    from sanitize.scan import scan
