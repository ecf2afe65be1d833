"""format: the detected format (magic bytes) must be an allowed image format matching the
file's extension; content that is not an image at all (an HTML page saved as .jpg) is named."""

from __future__ import annotations

from sanitize.config import ScanConfig
from sanitize.findings import Finding, Severity, error
from sanitize.formats import EXTENSION_FORMATS, NOT_AN_IMAGE_SUFFIX, is_image_format, sample_suffix
from sanitize.model import Loaded


def check_format(loaded: Loaded, config: ScanConfig) -> list[Finding]:
    if not loaded.opened:
        return []
    detected = loaded.info.format
    suffix = sample_suffix(loaded.sample.path.rpartition("/")[2])
    expected = EXTENSION_FORMATS.get(suffix)
    if expected is None:
        shown = suffix or "no extension"
        return [error("format", "unsupported_extension", f"{shown} is not a supported sample type")]
    if detected is None:
        return []  # unknown bytes: the decode check reports them
    if not is_image_format(detected):
        content = detected.removesuffix(NOT_AN_IMAGE_SUFFIX).strip()
        return [error("format", "not_an_image", f"not an image: the content is {content}, named {suffix}")]
    findings = []
    if detected != expected:
        severity = Severity.WARNING if config.allow_mismatch else Severity.ERROR
        findings.append(Finding("format", "extension_mismatch", severity, f"content is {detected}, named {suffix}"))
    if detected not in config.formats:
        findings.append(
            error("format", "disallowed", f"{detected} is not an allowed format ({', '.join(config.formats)})")
        )
    return findings
