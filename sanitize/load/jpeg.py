"""The marker segments of a JPEG's primary image, walked as libjpeg walks them.

A JPEG is a chain of marker segments (ITU-T T.81, annex B): a marker (FF, then a code), then for
most codes a two-byte big-endian length that counts itself and the body. After a start-of-scan
(SOS) segment comes entropy-coded data, in which an FF byte is always followed by 00 (stuffing)
or by a restart marker (D0-D7); the first other marker ends it. The primary image ends at its EOI.
Walking segments by their lengths never looks inside them: the SOS markers of an EXIF (APP1) or
Photoshop (APP13) thumbnail, or an FF DA in any other segment body, are not the image's scans.

Bytes where a marker should be that are not one are junk, skipped as libjpeg's next_marker()
skips them (jdmarker.c: "Corrupt JPEG data: N extraneous bytes before marker 0xXX"); FF fill
bytes before a marker are legal (T.81 B.1.1.2) and belong to nothing. A generator, it walks
only as far as its consumer reads; the entropy-coded data is skipped with one regular-expression
search per scan, not a loop per byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

SOI, EOI, SOS, APP1, APP2 = 0xD8, 0xD9, 0xDA, 0xE1, 0xE2
#: Markers with no length: TEM, RST0-7, SOI, EOI (T.81 table B.1).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), SOI, EOI})
#: What may precede the MPF index: SOI, application segments APP0-APP15, comments, junk.
_HEAD = frozenset({SOI, *range(0xE0, 0xF0), 0xFE, None})
#: A marker: FF, any fill bytes, a code; FF 00 is not one (libjpeg skips it as junk).
_MARKER = re.compile(rb"\xff+[^\x00\xff]")
#: The end of entropy-coded data: FF followed by anything but a stuffed 00 or a restart marker.
_END_OF_ENTROPY_DATA = re.compile(rb"\xff[^\x00\xd0-\xd7]")
#: An APP2 segment holding (a chunk of) an ICC profile (ICC.1, annex B.4); libjpeg reads it,
#: never applies it to the pixels it decodes.
_ICC_APP2 = b"ICC_PROFILE\x00"
#: An APP2 segment holding the Multi-Picture Format index (CIPA DC-007): an MPO.
_MPF_APP2 = b"MPF\x00"
#: An APP1 segment holding EXIF metadata (EXIF 2.32, 4.5.4).
_EXIF = b"Exif\x00\x00"
#: Start-of-frame markers (every coding process; not DHT C4, JPG C8, DAC CC).
_START_OF_FRAME = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


class Segment(NamedTuple):
    """`data[start:end]`: a marker segment (marker, length, body), or junk (marker None)."""

    marker: int | None
    start: int
    end: int


def jpeg_segments(data: bytes) -> Iterator[Segment]:
    """The segments of the primary image of the JPEG `data`, up to its EOI (or the end of the
    data), and the junk between them; the entropy-coded data after each SOS is skipped, not
    yielded. Nothing if `data` does not start with SOI."""
    if not data.startswith(b"\xff\xd8"):
        return
    yield Segment(SOI, 0, 2)
    size, position = len(data), 2
    while position < size:
        if data[position] == 0xFF and position + 1 < size and (marker := data[position + 1]) not in (0x00, 0xFF):
            start, after = position, position + 2  # a marker right here, as in nearly every file
        else:
            found = _MARKER.search(data, position)
            if found is None:
                yield Segment(None, position, size)
                return
            if found.start() > position:
                yield Segment(None, position, found.start())
            start, after = found.end() - 2, found.end()  # a segment starts at the FF before its code
            marker = data[after - 1]
        if marker in _STANDALONE:
            yield Segment(marker, start, after)
            if marker == EOI:
                return
            position = after
            continue
        length = data[after] << 8 | data[after + 1] if after + 2 <= size else int.from_bytes(data[after:], "big")
        position = min(after + length, size)
        yield Segment(marker, start, position)
        if marker == SOS:
            end = _END_OF_ENTROPY_DATA.search(data, position)
            if end is None:
                return
            position = end.start()


def scan_count(data: bytes) -> int:
    """How many scans (SOS segments) the primary image has: 1 for a baseline JPEG, several for a
    progressive one, whatever thumbnails its metadata segments hold."""
    return sum(segment.marker == SOS for segment in jpeg_segments(data))


class JpegHead(NamedTuple):
    """What the header of a JPEG's primary image (its segments before the first scan) says."""

    #: The bodies of its Exif APP1 segments, in order, each as (start, end) in the data.
    exif: tuple[tuple[int, int], ...] = ()
    #: The component count of its (last) start-of-frame segment: 4 for CMYK or YCCK.
    components: int | None = None
    #: Where the Multi-Picture Format index of an MPO starts (the base of its pictures' offsets, as
    #: Pillow reads it: the last MPF APP2 segment's); None for a plain JPEG. The index is an
    #: application segment at the head of the file, right after the Exif APP1 (CIPA DC-007 5.2),
    #: so only the segments before the first that is not one are looked at.
    multi_picture_index_at: int | None = None


def jpeg_head(data: bytes) -> JpegHead:
    """The header of the JPEG `data`, read in one walk of its segments up to the first scan (junk
    skipped as libjpeg skips it): every reader of the header shares it, for a tiny JPEG's header
    walk costs as much as decoding it."""
    exif: list[tuple[int, int]] = []
    components = index_at = None
    at_head = True
    for segment in jpeg_segments(data):
        marker = segment.marker
        if marker in (SOS, EOI):  # the header is over
            break
        at_head = at_head and marker in _HEAD
        if marker in _START_OF_FRAME and segment.end - segment.start > 9:
            components = data[segment.start + 9]
        elif marker == APP1 and data.startswith(_EXIF, segment.start + 4, segment.end):
            exif.append((segment.start + 4, segment.end))
        elif at_head and marker == APP2 and data.startswith(_MPF_APP2, segment.start + 4):
            index_at = segment.start + 8
    return JpegHead(tuple(exif), components, index_at)


def without_header_junk(data: bytes) -> bytes:
    """`data` rebuilt from its own header segments without what libjpeg only warns about: junk
    between them and ICC profiles (which it reads but never applies to the pixels); the first
    SOS and all that follows are kept as they are. `data` itself when there is nothing to drop."""
    kept: list[Segment] = []
    dropped = False
    for segment in jpeg_segments(data):
        if segment.marker == SOS:
            if not dropped:
                return data
            return b"".join(data[s.start : s.end] for s in kept) + data[segment.start :]
        if segment.marker is None or (segment.marker == APP2 and data.startswith(_ICC_APP2, segment.start + 4)):
            dropped = True
        else:
            kept.append(segment)
    return data


def read_header(data: bytes) -> tuple[int, int, str, bool]:
    """(height, width, colorspace, quiet) of a JPEG's header, by libjpeg-turbo; quiet when it read it
    without a warning (it is then read again leniently: a benign warning is judged by the decode).
    simplejpeg is imported here, not at the top: an unchanged audit reads JPEG headers but decodes nothing."""
    import simplejpeg

    try:
        return (*simplejpeg.decode_jpeg_header(data, strict=True)[:3], True)
    except ValueError:
        return (*simplejpeg.decode_jpeg_header(data, strict=False)[:3], False)
