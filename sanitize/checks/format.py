"""format: the detected format (magic bytes) must be an allowed image format matching the
file's extension; content that is not an image at all (an HTML page saved as .jpg) is named.
In a WebDataset shard the extension is the image member's; an LMDB record has none to promise."""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding, Severity, error
from sanitize.formats import EXTENSION_FORMATS, NOT_AN_IMAGE_SUFFIX, is_image_format, sample_suffix
from sanitize.model import Loaded


def check_format(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    if not loaded.opened:
        return []
    detected = loaded.info.format
    member = loaded.sample.member
    if member is not None and member.name is None:  # an LMDB record: only its bytes say what it is
        return [] if detected is None else _judge(detected, detected, "a Datum's data", config)
    suffix = sample_suffix(member.name if member is not None else loaded.sample.path.rpartition("/")[2])
    expected = EXTENSION_FORMATS.get(suffix)
    if expected is None:
        shown = suffix or "no extension"
        return [error("format", "unsupported_extension", f"{shown} is not a supported sample type")]
    if detected is None:
        return []  # unknown bytes: the decode check reports them
    return _judge(detected, expected, f"named {suffix}", config)


def _judge(detected: str, expected: str, named: str, config: ScanConfig) -> list[Finding]:
    """The findings on content of format `detected` where `expected` was promised (by `named`)."""
    if not is_image_format(detected):
        content = detected.removesuffix(NOT_AN_IMAGE_SUFFIX).strip()
        return [error("format", "not_an_image", f"not an image: the content is {content}, {named}")]
    findings = []
    if detected != expected:
        severity = Severity.WARNING if config.allow_mismatch else Severity.ERROR
        findings.append(Finding("format", "extension_mismatch", severity, f"content is {detected}, {named}"))
    if detected not in config.formats:
        findings.append(
            error("format", "disallowed", f"{detected} is not an allowed format ({', '.join(config.formats)})")
        )
    return findings
