"""The one domain exception; cli.py turns it into a one-line message and exit code 2."""

import errno
import tempfile


class SanitizeError(Exception):
    """Unusable input or arguments: the scan cannot start (never raised for a bad sample)."""


def temporary_files_failed(exc: OSError) -> SanitizeError:
    """The one-line error for a scan's temporary files: a full disk, most likely, or the open-file
    limit (the dataset-wide verdicts of a big dataset keep a few hundred partition files open)."""
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        remedy = "raise the open-file limit, e.g. `ulimit -n 4096`"
    else:
        remedy = "set TMPDIR to a folder on a disk with room"
    return SanitizeError(
        f"cannot write the scan's temporary files in {tempfile.gettempdir()}: {exc.strerror or exc} ({remedy})"
    )
