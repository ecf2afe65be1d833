"""The one domain exception; cli.py turns it into a one-line message and exit code 2."""


class SanitizeError(Exception):
    """Unusable input or arguments: the scan cannot start (never raised for a bad sample)."""
