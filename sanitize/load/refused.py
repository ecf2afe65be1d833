"""The one exception of decoding: a sample's decode stops here, and its finding says why."""

from __future__ import annotations

from sanitize.findings import Finding


class Refused(Exception):
    """Decoding stops here; the finding says why."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding
