"""The audit's diff: what changed since the last completed audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sanitize.audit.reuse import Plan
from sanitize.model import Sample, SampleResult
from sanitize.report import Report


@dataclass
class AuditDiff:
    """What changed since the previous completed audit (everything is added on the first)."""

    previous_run: int | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    newly_failing: list[SampleResult] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "newly_failing": len(self.newly_failing),
            "fixed": len(self.fixed),
            "changed": len(self.changed),
        }

    def to_dict(self) -> dict[str, Any]:
        """diff.json: newly failing samples carry their findings.jsonl record."""
        return {
            "previous_run": self.previous_run,
            "counts": self.counts(),
            "added": self.added,
            "removed": self.removed,
            "newly_failing": [result.to_record() for result in self.newly_failing],
            "fixed": self.fixed,
            "changed": self.changed,
        }

    def render(self) -> str:
        since = f"since audit #{self.previous_run}" if self.previous_run else "(first audit: every sample is new)"
        counts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in self.counts().items())
        lines = [f"changes {since}: {counts}"]
        for result in self.newly_failing[:20]:
            codes = ", ".join(dict.fromkeys(f"{f.check}:{f.code}" for f in result.findings if f.is_error))
            lines.append(f"  newly failing: {result.path}  {codes}")
        if len(self.newly_failing) > 20:
            lines.append(f"  ... {len(self.newly_failing) - 20} more in diff.json")
        return "\n".join(lines)


def diff_since(
    samples: list[Sample], plan: Plan, changed: np.ndarray, report: Report, previous_run: int | None
) -> tuple[AuditDiff, np.ndarray]:
    """The diff against the last completed audit, and each sample's error state (0/1) now."""
    new_error = np.zeros(len(samples), dtype=np.int8)
    new_error[list(report.error_indices)] = 1
    base = plan.base_error
    newly_failing = set(np.flatnonzero((new_error == 1) & (base != 1)).tolist())
    paths = [s.path for s in samples]
    return AuditDiff(
        previous_run,
        added=[paths[i] for i in np.flatnonzero(base == -1)],
        removed=plan.removed,
        newly_failing=[result for result in report.flagged if result.index in newly_failing],
        fixed=[paths[i] for i in np.flatnonzero((base == 1) & (new_error == 0))],
        changed=[paths[i] for i in np.flatnonzero((base == 0) & (new_error == 0) & changed)],
    ), new_error
