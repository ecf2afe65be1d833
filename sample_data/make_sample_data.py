"""Regenerate sample_data/classification/: clean samples next to one of every problem.

Run from the repository root: python sample_data/make_sample_data.py
The output is committed; this script documents exactly how each broken file was made.
"""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent / "classification"
CLASSES = ("cat", "dog", "bird")


def photo(seed: int, height: int = 48, width: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 4.0 + seed * 9, y * 5.0, (x + y) * 2.0], axis=-1) % 255
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def encode(array: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def concealed_corruption(jpeg: bytes) -> bytes:
    """Flip 3 entropy-data bytes so that Pillow still decodes the file but strict libjpeg-turbo refuses it."""
    import simplejpeg

    start = jpeg.index(b"\xff\xda") + 20
    rng = np.random.default_rng(0)
    while True:
        damaged = bytearray(jpeg)
        for offset in rng.choice(np.arange(start, len(jpeg) - 2), size=3, replace=False):
            damaged[offset] ^= 0x55
        try:
            Image.open(io.BytesIO(bytes(damaged))).load()
            simplejpeg.decode_jpeg(bytes(damaged), strict=True)
        except ValueError:
            return bytes(damaged)  # Pillow accepted it (no OSError), libjpeg-turbo strict refused
        except OSError:
            continue


def broken_files() -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, label, what is wrong)."""
    jpeg = encode(photo(100), "JPEG", quality=90)
    flipped = concealed_corruption(encode(photo(101, 96, 128), "JPEG", quality=90))
    png = encode(photo(102), "PNG")
    bad_crc = bytearray(png)
    idat = png.index(b"IDAT")
    bad_crc[idat + 20] ^= 0xFF
    frames = [Image.fromarray(photo(110 + i, 24, 24)).convert("P") for i in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0))
    bomb += chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    nan_tiff = np.ones((16, 16), np.float32)
    nan_tiff[3, 5] = np.nan
    inf_npy = np.zeros((3, 16, 16), np.float32)
    inf_npy[0, 0, 0] = np.inf
    return {
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "0", "JPEG cut in half: decode:corrupt_data"),
        "flipped_bytes.jpg": (
            flipped,
            "1",
            "3 bytes flipped in the entropy data: Pillow decodes it silently, "
            "strict libjpeg-turbo does not (decode:corrupt_data)",
        ),
        "bad_crc.png": (bytes(bad_crc), "2", "one IDAT byte flipped, CRC left stale: decode:corrupt_data"),
        "png_named.jpg": (png, "0", "a valid PNG with a .jpg name: format:extension_mismatch"),
        "cut_last_frame.gif": (gif.getvalue()[:-30], "1", "animated GIF whose last frame is cut: decode:corrupt_data"),
        "hijacked.jpg": (
            b"<!DOCTYPE html><html><head><title>Login required</title></head>"
            b"<body><img src=qr.png> Scan to continue</body></html>\n",
            "2",
            "an HTML page saved under an image name (the DNS-hijack case): format:not_an_image",
        ),
        "empty.jpg": (b"", "0", "zero bytes: decode:empty"),
        "bomb.png": (
            bomb,
            "1",
            "header declares 50000x50000 pixels: decode:decompression_bomb, refused before decoding",
        ),
        "nan.tif": (encode(nan_tiff, "TIFF"), "2", "float TIFF holding a NaN: finite:nonfinite, probe:nonfinite_loss"),
        "inf.npy": (npy(inf_npy), "0", "float32 array holding +Inf: finite:nonfinite, probe:nonfinite_loss"),
        "pickled.npy": (
            npy(np.array([{"a": 1}], dtype=object), allow_pickle=True),
            "1",
            "object array (a pickle): decode:pickled_object, never unpickled",
        ),
        "huge_values.tif": (
            encode(np.full((16, 16), 3e38, np.float32), "TIFF"),
            "2",
            "every value finite but 3e38: passes the finite check, the probe's forward pass "
            "overflows (probe:nonfinite_loss)",
        ),
        "sixteen_bit.png": (
            encode(np.full((48, 64), 65000, np.uint16), "PNG"),
            "0",
            "16-bit PNG among 8-bit images: fine at its default scale; a scale outlier "
            "(probe:scale_outlier) when read with --scale 0.00392156862745098",
        ),
    }


BAD_LABELS = [
    ("clean/cat_00.jpg", "3.7", "label 3.7: label:not_integer (Caffe's atoi reads 3)"),
    ("clean/cat_01.jpg", "nan", "label nan: label:not_integer"),
    ("clean/cat_02.jpg", "cat", "label cat: label:not_integer (Caffe's atoi reads 0)"),
    ("clean/dog_00.jpg", "-1", "label -1: label:out_of_range"),
    ("clean/dog_01.jpg", "3", "label 3 = num_classes: label:out_of_range"),
    ("clean/dog_02.jpg", "99999999999", "label beyond int32: label:overflow"),
    ("clean/bird_00.jpg", None, "no label field: label:missing"),
    ("clean/bird_01.jpg", "255", "the ignore label (--ignore-label 255): valid, trains nothing"),
    ("../make_sample_data.py", "0", "escapes the dataset root: paths:outside_root, never opened"),
    ("/etc/hostname", "0", "absolute path outside the root: paths:outside_root, never opened"),
    ("clean/lost.jpg", "1", "listed but not on disk: paths:missing"),
]


def main() -> None:
    if HERE.exists():
        shutil.rmtree(HERE)
    (HERE / "clean").mkdir(parents=True)
    (HERE / "broken").mkdir()
    lines, table = [], []
    for index in range(24):
        name = f"clean/{CLASSES[index % 3]}_{index // 3:02d}.jpg"
        (HERE / name).write_bytes(encode(photo(index), "JPEG", quality=90))
        lines.append(f"{name} {index % 3}")
    for name, (data, label, why) in broken_files().items():
        (HERE / "broken" / name).write_bytes(data)
        lines.append(f"broken/{name} {label}")
        table.append((f"broken/{name}", label, why))
    for path, label, why in BAD_LABELS:
        lines.append(path if label is None else f"{path} {label}")
        table.append((path, label or "", why))
    (HERE / "train.txt").write_text("# path label  (3 classes, ignore label 255)\n" + "\n".join(lines) + "\n")
    rows = "\n".join(f"| `{p}` | {label} | {why} |" for p, label, why in table)
    (HERE / "TABLE.md").write_text(
        "| entry in train.txt | label | what is wrong |\n|---|---|---|\n" + rows + "\n"
        "\nThe first 24 lines of train.txt are clean 64x48 JPEGs with valid labels.\n"
    )


if __name__ == "__main__":
    main()
