"""Read a sample's file once and decode every pixel of every frame, never raising.

Whatever goes wrong becomes a `decode` Finding on the Loaded sample, so one bad file never
stops a scan. JPEGs go to libjpeg-turbo in strict mode (simplejpeg), because Pillow conceals
corrupt entropy data; they are decoded DCT-downscaled, which still entropy-decodes the whole
stream (so corruption is still caught) at a fraction of the cost. Everything else, and the
JPEG variants libjpeg-turbo does not support, goes to Pillow, restricted to the formats a
sample may be in so that no exotic plugin ever runs on untrusted bytes.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO

import numpy as np
import simplejpeg
from PIL import Image, ImageFile, PngImagePlugin

from sanitize.arrays import CHUNK, count_nonfinite
from sanitize.config import ScanConfig
from sanitize.findings import Finding, error, warning
from sanitize.formats import HEAD_SIZE, IMAGE_FORMATS, is_image_format, sniff
from sanitize.load.concealed import concealed_damage, entropy_pass
from sanitize.load.fingerprint import describe_bytes
from sanitize.load.jpeg import JpegHead, jpeg_head, read_header, scan_count, without_header_junk
from sanitize.load.npy import load_npy
from sanitize.load.refused import Refused
from sanitize.model import ImageInfo, Loaded, NonFinite, Sample
from sanitize.remote import ObjectStore, object_stat

#: Files smaller than this are read whole in one call, and sniffed from what was read.
WHOLE_READ = 1 << 16

#: JPEGs are decoded DCT-downscaled to no less than this many pixels a side (the probe grid).
JPEG_MIN_SIDE = 16

#: libjpeg warnings about damage that leaves every pixel intact: a broken ICC profile, and junk
#: between the header markers of a single-scan JPEG. Junk before an RST or EOI marker means the
#: entropy-coded data did not end where it should; in a multi-scan (progressive) JPEG, junk
#: before the next table or scan marker means the same for the previous scan: corrupt pixels.
_BENIGN_ANYWHERE = re.compile(r"bad ICC marker")
_JUNK_BEFORE_HEADER_MARKER = re.compile(r"extraneous bytes before marker 0x(?!d[0-79])[0-9a-f]{2}")


def is_benign_jpeg_warning(message: str, scans: int = 1) -> bool:
    """Whether libjpeg's `message` about a JPEG with `scans` scans leaves pixels intact."""
    if _BENIGN_ANYWHERE.search(message):
        return True
    return scans <= 1 and _JUNK_BEFORE_HEADER_MARKER.search(message) is not None


#: libjpeg messages meaning "I do not support this", not "this is broken": Pillow judges.
_UNSUPPORTED_JPEG = ("Unsupported", "not supported", "subsampling level", "lossless")

_LOADER_MODES = {"P": "RGB", "PA": "RGBA", "1": "L", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}
_BIT_DEPTH = {"1": 1, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32}


@contextmanager
def pillow_limits(config: ScanConfig) -> Iterator[None]:
    """Apply the configured bomb limit and strict truncation to Pillow, then restore them."""
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS = -(-config.max_pixels // 2)  # Pillow refuses above twice this, from the header
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _bomb(pixels: int, config: ScanConfig, size: str = "") -> Finding:
    return error(
        "decode",
        "decompression_bomb",
        f"declares {size}{pixels:,} pixels, over the limit of {config.max_pixels:,};"
        " refused before decoding (raise it with --max-pixels)",
    )


def _check_bomb(width: int, height: int, config: ScanConfig) -> None:
    if width * height > config.max_pixels:
        raise Refused(_bomb(width * height, config, size=f"{width}x{height} = "))


def _decode_jpeg(data: bytes, head: JpegHead, loaded: Loaded, config: ScanConfig) -> None:
    """Strict libjpeg-turbo decode, DCT-downscaled, of the primary image and of every other
    picture of an MPO (`head` says where its index is); Pillow judges the file where
    libjpeg-turbo cannot."""
    info = loaded.info
    try:
        height, width, colorspace, quiet = read_header(data)
    except (ValueError, KeyError) as exc:
        _decode_pillow(data, loaded, config, also_failed=f"libjpeg-turbo: {exc}")
        return
    info.decoder, info.width, info.height = "libjpeg-turbo", width, height
    _check_bomb(width, height, config)
    gray = colorspace == "Gray"
    # Looking for concealed damage takes a pass over the entropy-coded data; where that pass can make
    # the picture libjpeg-turbo would, exactly (a file it decodes without a word), it is not decoded twice.
    entropy = entropy_pass(data, eighth=quiet) if config.concealed != "off" else None
    if entropy is not None and entropy.eighth is not None and (entropy.eighth.shape[2] == 1) == gray:
        decoded = entropy.eighth
    else:
        decoded = _strict_jpeg(data, gray, loaded)
    if isinstance(decoded, str):
        _decode_pillow(data, loaded, config, also_failed=f"libjpeg-turbo: {decoded}")
        return
    index_at = head.multi_picture_index_at
    pictures = [] if index_at is None else _other_pictures(data, index_at)
    for number, offset in enumerate(pictures, start=2):  # one copy of a picture's bytes at a time
        if isinstance(judged := _strict_picture(data[offset:], number, loaded, config), str):
            _decode_pillow(data, loaded, config, also_failed=f"libjpeg-turbo: picture {number}: {judged}")
            return
    info.frames = 1 + len(pictures)
    info.mode, info.channels, info.bit_depth = ("L", 1, 8) if gray else ("RGB", 3, 8)
    loaded.pixels = decoded
    if config.concealed != "off":
        info.concealed = "pixels" if entropy is None else "entropy pass"
        if damage := concealed_damage(data, decoded, config, entropy):
            loaded.findings.append(damage)


def _strict_jpeg(data: bytes, gray: bool, loaded: Loaded, where: str = "") -> np.ndarray | str:
    """The pixels, by strict libjpeg-turbo; or its message when Pillow must judge (a variant it
    does not support, or a benign warning it still stops at); Refused when the data is corrupt.

    Strict libjpeg-turbo stops at its first warning, so a benign one (junk between header
    markers, a broken ICC profile) would leave the rest of the file unjudged, and Pillow
    conceals entropy damage: the stream is rebuilt without the junk and the ICC profile and
    decoded strictly again, and only a benign warning that survives that goes to Pillow.
    """
    scans = None
    while True:
        try:
            return simplejpeg.decode_jpeg(
                data,
                colorspace="GRAY" if gray else "RGB",
                fastdct=True,
                fastupsample=True,
                min_height=JPEG_MIN_SIDE,
                min_width=JPEG_MIN_SIDE,
                strict=True,
            )
        except ValueError as exc:
            message = str(exc)
        scans = scan_count(data) if scans is None else scans
        if not is_benign_jpeg_warning(message, scans):
            if any(s in message for s in _UNSUPPORTED_JPEG):
                return message
            raise Refused(error("decode", "corrupt_data", f"libjpeg-turbo (strict){where}: {message}")) from None
        loaded.findings.append(warning("decode", "jpeg_warning", f"libjpeg-turbo{where}: {message}"))
        if (rebuilt := without_header_junk(data)) is data:
            return message
        data = rebuilt


def _other_pictures(data: bytes, index_at: int) -> list[int]:
    """Where the pictures of an MPO after the primary one start (each is a complete JPEG), by its
    Multi-Picture index (at `index_at`, parsed by Pillow's JPEG plugin), each offset once; Refused
    where one is not a JPEG. Pillow does not seek to them: it would call a bomb corrupt."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a malformed index: Pillow reads the file as a plain JPEG
        try:
            entries = getattr(Image.open(io.BytesIO(data), formats=("JPEG",)), "mpinfo", {}).get(0xB002, [])
        except Exception as exc:  # noqa: BLE001 - a broken index is a finding, never a crash
            raise Refused(error("decode", "corrupt_data", f"Pillow: {str(exc) or type(exc).__name__}")) from None
    offsets = list(dict.fromkeys(index_at + entry["DataOffset"] for entry in entries[1:]))
    for number, offset in enumerate(offsets, start=2):
        if not data.startswith(b"\xff\xd8", offset):
            raise Refused(error("decode", "corrupt_data", f"picture {number} is not where the MPO index puts it"))
    return offsets


def _strict_picture(picture: bytes, number: int, loaded: Loaded, config: ScanConfig) -> np.ndarray | str:
    """One more picture of an MPO, judged as the primary one is (see _strict_jpeg)."""
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(picture, strict=False)
    except (ValueError, KeyError) as exc:
        return str(exc)
    _check_bomb(width, height, config)
    return _strict_jpeg(picture, colorspace == "Gray", loaded, where=f", picture {number}")


def _loader_array(frame: Image.Image) -> np.ndarray:
    """The frame as a training loader would convert it to an array."""
    target = _LOADER_MODES.get(frame.mode)
    return np.asarray(frame.convert(target) if target else frame)


def _decode_pillow(data: bytes, loaded: Loaded, config: ScanConfig, also_failed: str = "") -> None:
    """Decode every frame with Pillow; `also_failed` is why libjpeg-turbo did not judge."""
    info = loaded.info
    suffix = f" ({also_failed})" if also_failed else ""
    info.decoder = "pillow"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            info.format = info.format or image.format
            info.mode, info.width, info.height = image.mode, *image.size
            _check_bomb(*image.size, config)
            if image.format == "PNG":
                _verify_png_chunks(data, image)
            info.frames = getattr(image, "n_frames", 1)
            for index in range(info.frames):
                image.seek(index)
                _check_bomb(*image.size, config)
                image.load()
                if index == 0:
                    loaded.pixels = _loader_array(image)
                if image.mode == "F":  # counted as decoded, then dropped: one frame in memory, not all
                    loaded.nonfinite = _count_frame(image, loaded.pixels if index == 0 else None, loaded.nonfinite)
        except Refused:
            raise
        except Image.DecompressionBombError as exc:
            declared = re.search(r"\((\d+) pixels\)", str(exc))
            raise Refused(
                _bomb(int(declared.group(1)), config) if declared else error("decode", "decompression_bomb", str(exc))
            ) from None
        except Image.UnidentifiedImageError:
            reason = _why_unidentified(data, info.format)
            raise Refused(error("decode", "unidentified", f"Pillow cannot open it{reason}{suffix}")) from None
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a finding, never a crash
            detail = str(exc) or type(exc).__name__
            raise Refused(error("decode", "corrupt_data", f"Pillow: {detail}{suffix}")) from None
    info.channels = len(image.getbands())
    info.bit_depth = _BIT_DEPTH.get(image.mode, 8)
    loaded.findings.extend(
        warning("decode", "decoder_warning", f"Pillow: {w.message}")
        for w in caught
        if not issubclass(w.category, Image.DecompressionBombWarning)  # _check_bomb judges size
    )


def _count_frame(frame: Image.Image, array: np.ndarray | None, counted: NonFinite | None) -> NonFinite:
    """`counted` plus the NaN and Inf values of a float frame, given as its `array` when there is
    one, else read from the image a band of rows at a time (np.asarray copies a whole frame, twice
    on the way: Pillow's tobytes joins its encoded chunks)."""
    if array is not None:
        return count_nonfinite(array, counted)
    width, height = frame.size
    band = max(1, CHUNK // width)
    for top in range(0, height, band):
        counted = count_nonfinite(np.asarray(frame.crop((0, top, width, min(top + band, height)))), counted)
    return counted or NonFinite()


def _verify_png_chunks(data: bytes, image: Image.Image) -> None:
    """The CRC of every chunk from the first IDAT on (open checked the ones before), by Pillow's own
    ChunkStream.verify, as Image.verify() does, without opening the file a second time."""
    stream = PngImagePlugin.ChunkStream(io.BytesIO(data))
    stream.fp.seek(image.tile[0][2] - 8)
    stream.verify()


def _why_unidentified(data: bytes, detected: str | None) -> str:
    """Pillow's own reason when the magic bytes name a format it refused to open.

    Image.open hides the plugin's error (e.g. "unknown pixel mode" for a valid float RGB
    TIFF) behind "cannot identify"; asking the plugin directly recovers it.
    """
    if detected not in IMAGE_FORMATS or detected not in Image.OPEN:
        return ""
    factory = Image.OPEN[detected][0]
    try:
        factory(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - we only want its message
        return f" ({detected}: {exc})"
    return ""


def record_stat(handle: BinaryIO, info: ImageInfo) -> None:
    """The size and mtime of the file as it is read, so quarantine can tell if it changed since."""
    stat = os.fstat(handle.fileno())
    info.size, info.mtime_ns = stat.st_size, stat.st_mtime_ns


def oversized(info: ImageInfo, config: ScanConfig) -> str | None:
    """Why a file is not read whole (it is over config.max_file_bytes), or None: a multi-GB file
    on a sample path would otherwise be read into a worker's memory before any check."""
    if info.size is not None and info.size > config.max_file_bytes:
        return f"{info.size:,} bytes, over --max-file-bytes {config.max_file_bytes:,}: not read"
    return None


def fetch_object(
    name: str, info: ImageInfo, config: ScanConfig, store: ObjectStore, status: dict
) -> tuple[bytes, str | None]:
    """(an object's bytes, None), or (b"", why it is not fetched: over --max-file-bytes, judged from
    the status the paths check took, before any byte; a .npy's declared size is then judged against
    the bytes fetched, see load_npy). Sets the info's size, mtime_ns and format."""
    info.size, info.mtime_ns = object_stat(status)
    if reason := oversized(info, config):
        return b"", reason
    data = store.filesystem().cat_file(name)
    info.format = sniff(data[:HEAD_SIZE])
    return data, None


def _read_object(loaded: Loaded, config: ScanConfig, store: ObjectStore, status: dict) -> bytes | None:
    """An object's bytes (None when it was handled as an array)."""
    data, too_large = fetch_object(loaded.sample.file, loaded.info, config, store, status)
    if too_large:
        raise Refused(error("decode", "too_large", too_large))
    if loaded.info.format == "NPY":
        _load_array(loaded, data)
        return None
    return data


def _read_file(loaded: Loaded, config: ScanConfig) -> bytes | None:
    """A local file's bytes (None when it was handled as an array: memory-mapped, never read whole).
    Read with the system calls alone, no file object: a small file in one read, its head sniffed
    from the bytes read; a bigger one's head with a pread first, for it may be too big to read or a
    .npy to map (a file object, buffered or not, cost three more calls: 4 us a tiny image)."""
    info = loaded.info
    fd = os.open(loaded.sample.file, os.O_RDONLY)
    try:
        status = os.fstat(fd)
        info.size, info.mtime_ns = status.st_size, status.st_mtime_ns
        small = status.st_size < WHOLE_READ
        head = os.read(fd, status.st_size + 1) if small else os.pread(fd, HEAD_SIZE, 0)
        info.format = sniff(head[:HEAD_SIZE])
        if reason := oversized(info, config):
            raise Refused(error("decode", "too_large", reason))
        if info.format == "NPY":
            _load_array(loaded)
            return None
        return _read_to_end(fd, head if small else b"", status.st_size)
    finally:
        os.close(fd)


def _read_to_end(fd: int, data: bytes, size: int) -> bytes:
    """`data`, the file's first bytes, and the rest of the file: read until a read returns nothing,
    for the file may have grown since its `size` was taken, and a network file system may return
    less than was asked."""
    chunks = [data] if data else []
    read = len(data)
    while chunk := os.read(fd, max(size + 1 - read, 1 << 16)):
        chunks.append(chunk)
        read += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one chunk: no copy


def _load_array(loaded: Loaded, data: bytes | None = None) -> None:
    """A .npy sample (see load_npy), its float values counted for the finite check."""
    load_npy(loaded, data)
    if loaded.pixels.dtype.kind == "f":
        loaded.nonfinite = count_nonfinite(loaded.pixels, None)


def load(
    sample: Sample, config: ScanConfig, objects: Mapping[str, dict] | None = None, store: ObjectStore | None = None
) -> Loaded:
    """Read and decode one sample; every problem becomes a finding on the result. A sample in
    object storage is read through `store`, with the status the paths check took (`objects`)."""
    loaded = Loaded(sample, ImageInfo(), opened=True)
    try:
        if store is not None:
            data = _read_object(loaded, config, store, (objects or {})[sample.file])
        else:
            data = _read_file(loaded, config)
    except Refused as refused:
        loaded.findings.append(refused.finding)
        return loaded
    except OSError as exc:
        loaded.findings.append(error("decode", "unreadable", f"cannot read: {exc.strerror or exc}"))
        return loaded
    if data is not None:
        decode(data, loaded, config)
    return loaded


def decode(data: bytes, loaded: Loaded, config: ScanConfig) -> None:
    """Decode a file's bytes (whose format loaded.info holds, sniffed from them) into `loaded`: what
    a file and a container's member (datasets.lmdbfile, datasets.webdataset) have in common."""
    head = jpeg_head(data) if loaded.info.format == "JPEG" else None
    describe_bytes(data, loaded, head)
    if not data:
        loaded.findings.append(error("decode", "empty", "zero-byte file"))
    elif is_image_format(loaded.info.format) or loaded.info.format is None:
        try:
            if head is not None:
                _decode_jpeg(data, head, loaded, config)
            else:
                _decode_pillow(data, loaded, config)
        except Refused as refused:
            loaded.pixels = loaded.nonfinite = None
            loaded.findings.append(refused.finding)
