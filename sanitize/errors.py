"""The one domain exception; cli.py turns it into a one-line message and exit code 2."""

import tempfile


class SanitizeError(Exception):
    """Unusable input or arguments: the scan cannot start (never raised for a bad sample)."""


def temporary_files_failed(exc: OSError) -> SanitizeError:
    """The one-line error for a scan's temporary files (a full disk, most likely)."""
    return SanitizeError(
        f"cannot write the scan's temporary files in {tempfile.gettempdir()}: {exc.strerror or exc}"
        " (set TMPDIR to a folder on a disk with room)"
    )
