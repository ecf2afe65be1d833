"""Build sample_data/segmentation/: a tiny segmentation set with one broken mask of each kind.

    python sample_data/make_segmentation.py

Deterministic; rewrites the folder. sample_data/segmentation/README.md says what is wrong
with each file and what `sanitize scan` reports for it.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent / "segmentation"
HEIGHT, WIDTH = 48, 64
NUM_CLASSES = 8
#: VOC's colours for the classes used here (for the palette PNGs and the RGB mask).
COLOURS = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 7: (128, 128, 128), 255: (224, 224, 192)}


def photo(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([x * 255 / WIDTH, y * 255 / HEIGHT, (x + y) * 127 / (WIDTH + HEIGHT)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def scene(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Background 0, a disc of class 1, a block of class 2, a strip of class 7, VOC-style 255 border."""
    y, x = np.mgrid[0:height, 0:width]
    mask = np.zeros((height, width), np.uint8)
    mask[(y - height / 2) ** 2 + (x - width / 3) ** 2 < (height / 4) ** 2] = 1
    mask[height // 8 : height // 2, 2 * width // 3 : 7 * width // 8] = 2
    mask[-height // 6 :, :] = 7
    return mask


def with_border(mask: np.ndarray) -> np.ndarray:
    """Mark the 1-pixel boundary of every class region with 255, as VOC does."""
    out = mask.copy()
    edge = np.zeros_like(mask, dtype=bool)
    edge[1:, :] |= mask[1:, :] != mask[:-1, :]
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    out[edge] = 255
    return out


def palette_png(mask: np.ndarray, path: Path) -> None:
    image = Image.fromarray(mask, mode="L").convert("P")
    flat = [0] * 768
    for index, rgb in COLOURS.items():
        flat[3 * index : 3 * index + 3] = rgb
    image.putpalette(flat)
    image.save(path)


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "images").mkdir(parents=True)
    (OUT / "masks").mkdir()
    masks: dict[str, str] = {}

    def image(stem: str, seed: int, size: tuple[int, int] = (HEIGHT, WIDTH)) -> None:
        array = photo(seed) if size == (HEIGHT, WIDTH) else np.resize(photo(seed), (*size, 3))
        Image.fromarray(array).save(OUT / "images" / f"{stem}.jpg", quality=85)

    good = with_border(scene())
    for i in range(3):
        image(f"ok_{i}", i)
        palette_png(np.roll(good, 6 * i, axis=1), OUT / "masks" / f"ok_{i}.png")
        masks[f"ok_{i}"] = f"ok_{i}.png"

    image("ok_npy", 10)
    np.save(OUT / "masks" / "ok_npy.npy", scene().astype(np.int64))
    masks["ok_npy"] = "ok_npy.npy"

    image("jpeg_mask", 11)
    buffer = io.BytesIO()
    Image.fromarray(scene() * 30).save(buffer, format="JPEG", quality=75)  # classes 0..210 step 30
    (OUT / "masks" / "jpeg_mask.jpg").write_bytes(buffer.getvalue())
    masks["jpeg_mask"] = "jpeg_mask.jpg"

    image("bilinear", 12)
    big = np.zeros((4 * HEIGHT, 4 * WIDTH), np.uint8)
    y, x = np.mgrid[0 : 4 * HEIGHT, 0 : 4 * WIDTH]
    big[(y - 2 * HEIGHT) ** 2 + (x - 2 * WIDTH) ** 2 < (1.5 * HEIGHT) ** 2] = 7
    Image.fromarray(big).resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR).save(OUT / "masks" / "bilinear.png")
    masks["bilinear"] = "bilinear.png"

    image("all_ignored", 13)
    Image.fromarray(np.full((HEIGHT, WIDTH), 255, np.uint8)).save(OUT / "masks" / "all_ignored.png")
    masks["all_ignored"] = "all_ignored.png"

    image("size_mismatch", 14)
    palette_png(with_border(scene(HEIGHT // 2, WIDTH // 2)), OUT / "masks" / "size_mismatch.png")
    masks["size_mismatch"] = "size_mismatch.png"

    image("rgb", 15)
    table = np.zeros((256, 3), np.uint8)
    for index, rgb in COLOURS.items():
        table[index] = rgb
    Image.fromarray(table[good]).save(OUT / "masks" / "rgb.png")
    masks["rgb"] = "rgb.png"
    palette = {",".join(map(str, rgb)): index for index, rgb in COLOURS.items()}
    (OUT / "palette.json").write_text(json.dumps(palette, indent=1) + "\n")

    image("sixteen_bit", 16)
    wide = scene().astype(np.uint16)
    wide[wide == 2] = 300
    Image.fromarray(wide).save(OUT / "masks" / "sixteen_bit.png")
    masks["sixteen_bit"] = "sixteen_bit.png"

    image("no_mask", 17)
    masks["no_mask"] = "no_mask.png"  # listed, never written
    image("escape", 18)
    masks["escape"] = "../../escape.png"  # outside the dataset root: never opened

    (OUT / "train.txt").write_text("".join(f"images/{stem}.jpg masks/{mask}\n" for stem, mask in masks.items()))

    image("binary_ok", 20)
    image("binary_255", 21)
    fg = (scene() == 1).astype(np.uint8)
    Image.fromarray(fg).save(OUT / "masks" / "binary_ok.png")
    Image.fromarray(fg * 255).save(OUT / "masks" / "binary_255.png")
    (OUT / "binary.txt").write_text(
        "images/binary_ok.jpg masks/binary_ok.png\nimages/binary_255.jpg masks/binary_255.png\n"
    )


if __name__ == "__main__":
    main()
