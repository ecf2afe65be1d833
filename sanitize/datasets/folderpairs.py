"""Segmentation from two folders: every image under `images` paired with its mask under `masks`.

An image `images/<sub>/<stem><image_suffix>.<ext>` pairs with the mask
`masks/<sub>/<stem><mask_suffix>`: when the mask suffix ends in a file extension
(`_gtFine_labelIds.png`) it names the mask exactly, otherwise the mask may have any sample
extension, lossless ones preferred (VOC: JPEGImages/2007_000032.jpg ->
SegmentationClass/2007_000032.png). An image without a mask is a sample with no mask (the mask
check reports it); masks without an image are not samples. The two folders may be one (`x.jpg`
beside `x_mask.png`, with `--mask-suffix _mask`): a file that is some image's mask is then not
an image itself. The dataset root is the folders' common parent unless given, so both folders
are inside it and the paths check can hold image and mask to it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from sanitize.datasets import Dataset
from sanitize.datasets.imagefolder import sample_files
from sanitize.errors import SanitizeError
from sanitize.formats import EXTENSION_FORMATS, sample_suffix
from sanitize.model import Sample

#: Mask extensions tried, in order, when the mask suffix has none: lossless formats first.
MASK_EXTENSIONS = (".png", ".tif", ".tiff", ".npy", ".bmp", ".gif", ".webp", ".jpg", ".jpeg")


def _mask_for(image: PurePosixPath, masks_by_name: dict[str, str], image_suffix: str, mask_suffix: str) -> str | None:
    """The mask's path relative to the root, or None; `image` and the keys are relative to their folders."""
    stem = image.stem.removesuffix(image_suffix) if image_suffix else image.stem
    base = (image.parent / f"{stem}{mask_suffix}").as_posix().lower()
    if sample_suffix(PurePosixPath(mask_suffix).name) in EXTENSION_FORMATS:
        return masks_by_name.get(base)
    names = (f"{base}{ext}" for ext in MASK_EXTENSIONS)
    return next((masks_by_name[name] for name in names if name in masks_by_name), None)


def _files(root: Path, folder: Path, exclude: tuple[Path, ...]) -> list[tuple[str, PurePosixPath]]:
    """(path relative to the root, path relative to the folder) of each sample file below `folder`."""
    return [
        (PurePosixPath(rel).as_posix(), PurePosixPath((root / rel).relative_to(folder).as_posix()))
        for rel in sample_files(root, folder, exclude)
    ]


def read(
    images: Path,
    masks: Path,
    *,
    image_suffix: str = "",
    mask_suffix: str = "",
    root: Path | None = None,
    exclude: tuple[Path, ...] = (),
) -> Dataset:
    for folder, option in ((images, "--images"), (masks, "--masks")):
        if not folder.is_dir():
            raise SanitizeError(f"{option} is not a directory: {folder}")
    images, masks = Path(os.path.abspath(images)), Path(os.path.abspath(masks))
    root = Path(os.path.abspath(root)) if root is not None else Path(os.path.commonpath([images, masks]))
    for folder, option in ((images, "--images"), (masks, "--masks")):
        if not folder.is_relative_to(root):
            raise SanitizeError(f"{option} {folder} is not inside --root {root}")
    exclude = tuple(Path(os.path.realpath(p)) for p in exclude)
    mask_files = _files(root, masks, exclude)
    real_masks = Path(os.path.realpath(masks))
    if real_masks != Path(os.path.realpath(images)):
        exclude = (*exclude, real_masks)  # a mask folder nested in the image folder holds no images
    pairs = paired(_files(root, images, exclude), mask_files, image_suffix, mask_suffix)
    samples = [Sample.under(root, i, rel, mask=mask) for i, (rel, mask) in enumerate(pairs)]
    return Dataset("folderpairs", images, root, lambda: iter(samples), size=len(samples), task="segmentation")


def paired(
    images: list[tuple[str, PurePosixPath]],
    masks: list[tuple[str, PurePosixPath]],
    image_suffix: str,
    mask_suffix: str,
) -> list[tuple[str, str | None]]:
    """(image, its mask or None) of each image, both relative to the root; `images` and `masks` are
    (path relative to the root, path relative to their folder). A file that is some image's mask
    is not an image itself (one folder may hold both)."""
    masks_by_name = {in_folder.as_posix().lower(): rel for rel, in_folder in masks}
    pairs = [(rel, _mask_for(in_folder, masks_by_name, image_suffix, mask_suffix)) for rel, in_folder in images]
    used = {mask for _, mask in pairs if mask is not None}
    return [(rel, mask) for rel, mask in pairs if rel not in used]
