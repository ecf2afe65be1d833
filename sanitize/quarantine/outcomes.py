"""What a quarantine or restore run can do with one file: the statuses, FileOutcome and Skip.

They are shared by the journal (settling an interrupted move has an outcome too), the moves and
checks (which raise Skip), and the runs that collect the outcomes; so they live apart from all three.
"""

from __future__ import annotations

from dataclasses import dataclass

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
