"""Formats: which ones a sample may be in, what its name promises, and what its bytes really are.

`sniff` names a file's real format from its first bytes, whatever its extension says. It knows
the formats a sample may legitimately be in, the other image formats a file might really be (so
a message can say "a TGA named .jpg"), and the non-image content that shows up in datasets in
practice: an HTML error page or captive-portal page saved under an image name, a JSON error
body, a PDF, an archive.
"""

from __future__ import annotations

#: Formats a sample may be in, by the name the format check detects from magic bytes.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
ALL_FORMATS = (*IMAGE_FORMATS, "NPY")

#: The file extensions a dataset sample may have, and the format each one promises.
EXTENSION_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".ppm": "PPM",  # torchvision's ImageFolder loads .ppm and .pgm too
    ".pgm": "PPM",
    ".npy": "NPY",
}


def sample_suffix(name: str) -> str:
    """A file name's extension, lower-case, by pathlib's rule (".jpg" alone has none): the one
    rule for which files an ImageFolder lists and what format a name promises."""
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


#: How many leading bytes `sniff` needs.
HEAD_SIZE = 512

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"\x93NUMPY", "NPY"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000"),
    (b"\xff\x4f\xff\x51", "JPEG2000"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"qoif", "QOI"),
    (b"%PDF", "PDF (not an image)"),
    (b"PK\x03\x04", "ZIP archive (not an image)"),
    (b"\x1f\x8b", "gzip archive (not an image)"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive (not an image)"),
    (b"Rar!", "RAR archive (not an image)"),
    (b"\x80\x04\x95", "Python pickle (not an image)"),
    (b"\x80\x05\x95", "Python pickle (not an image)"),
)

#: Formats that are not images at all; the format check reports them as `not_an_image`.
NOT_AN_IMAGE_SUFFIX = "(not an image)"


def _sniff_text(head: bytes) -> str | None:
    """Name markup and text content, which is never an image."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script")):
        return "HTML document (not an image)"
    if text.startswith(b"<?xml") or text.startswith(b"<svg"):
        return "SVG image (not an image)" if b"<svg" in text else "XML document (not an image)"
    if text.startswith((b"{", b"[")):
        return "JSON text (not an image)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if all(c >= 32 or c in b"\t\r\n" for c in head):
        return "plain text (not an image)"
    return None


def sniff(head: bytes) -> str | None:
    """The format `head` (a file's first HEAD_SIZE bytes) starts with, or None if unknown."""
    if not head:
        return None
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:1] == b"P" and head[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6") and head[2:3].isspace():
        return "PPM"  # Netpbm: PBM, PGM, PPM
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "AVIF"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1"):
        return "HEIC"
    return _sniff_text(head)


def is_image_format(name: str | None) -> bool:
    return name is not None and not name.endswith(NOT_AN_IMAGE_SUFFIX)
