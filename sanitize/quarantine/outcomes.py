"""What a quarantine or restore run can do with one file (the statuses, FileOutcome and Skip), and
what a whole run did (MoveResult: its outcomes, rendered).

They are shared by the journal (settling an interrupted move has an outcome too), the moves and
checks (which raise Skip), and the runs that collect the outcomes; so they live apart from all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sanitize.errors import SanitizeError

# What happened to one file. The first three are success; every other status makes the exit code 1.
MOVED = "moved"
RESTORED = "restored"
ALREADY = "already in QDIR"
STALE = "changed since the scan"
UNVERIFIED = "unverified"
REFUSED = "refused"
MISSING = "missing"
CONFLICT = "conflict"
CHANGED = "quarantined copy changed"
ROLLED_BACK = "rolled back"
SUCCESS = {MOVED, RESTORED, ALREADY, ROLLED_BACK}


class Skip(Exception):
    """This file is not moved; the outcome says why."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class FileOutcome:
    """What a run did (or, in a dry run, would do) with one file."""

    path: str
    status: str
    reason: str = ""
    size: int = 0


@dataclass
class MoveResult:
    """What a quarantine or restore run did: one outcome per file it looked at."""

    qdir: Path
    dry_run: bool
    outcomes: list[FileOutcome] = field(default_factory=list)
    #: Moves an interrupted earlier run left in flight, settled before this run started.
    recovered: list[FileOutcome] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status in statuses]

    @property
    def problems(self) -> list[FileOutcome]:
        return [o for o in self.outcomes + self.recovered if o.status not in SUCCESS]

    @property
    def exit_code(self) -> int:
        """0 when every file selected ended up where it was asked to go, else 1."""
        return 1 if self.problems else 0

    def stopped(self, exc: SanitizeError, journal: Path, left_undone: str = "") -> SanitizeError:
        """The error that stopped this run half-way, saying what had moved by then (each move is in
        the journal, so a later run or restore knows it) and `left_undone`, what the run never did."""
        done = self.with_status(MOVED, RESTORED)
        if not done:
            return exc
        return SanitizeError(f"{exc}; {len(done)} files had moved, as {journal} records{left_undone}")

    def _render(self, done: str, verb: str, where: str) -> list[str]:
        lines = [f"{o.path}: {o.reason or o.status}" for o in self.recovered]
        done_files = self.with_status(done)
        if self.dry_run:
            lines += [f"would {verb} {o.path} ({o.size:,} bytes)" for o in done_files]
        moved_bytes = sum(o.size for o in done_files)
        prefix = "would have " if self.dry_run else ""
        lines.append(f"{prefix}{done} {len(done_files)} files ({moved_bytes:,} bytes) {where}")
        already = self.with_status(ALREADY)
        if already:
            lines.append(f"{len(already)} already in {self.qdir}")
        problems = [o for o in self.outcomes if o.status not in SUCCESS]
        if problems:
            lines.append(f"{len(problems)} not {done}:")
            lines += [f"  {o.path}: {o.status}: {o.reason}" for o in problems]
        return lines


@dataclass
class QuarantineResult(MoveResult):
    cleaned_list: Path | None = None
    backup: Path | None = None

    def render(self) -> str:
        lines = self._render(MOVED, "move", f"to {self.qdir}")
        if self.backup:
            lines.append(f"list rewritten in place: {self.cleaned_list} (backup: {self.backup})")
        elif self.cleaned_list:
            lines.append(f"cleaned list: {self.cleaned_list}")
        return "\n".join(lines)


@dataclass
class RestoreResult(MoveResult):
    root: Path | None = None

    def render(self) -> str:
        where = f"to {self.root}" if self.root else f"(nothing left in {self.qdir} to restore)"
        return "\n".join(self._render(RESTORED, "restore", where))
