"""Datasets in object storage: a list file or CSV that is an object, or an ImageFolder under a
prefix (`s3://bucket/train/<class>/<file>`). The listing is read here, on the client; the objects
themselves are opened by the workers (see sanitize.remote)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from sanitize.datasets import Dataset, csvfile, folderpairs, listfile
from sanitize.errors import SanitizeError
from sanitize.formats import EXTENSION_FORMATS, sample_suffix
from sanitize.model import Sample
from sanitize.remote import ObjectStore, normalized


def _status(fs: object, url: str) -> dict:
    try:
        return fs.info(url)
    except FileNotFoundError:
        raise SanitizeError(f"dataset not found: {url}") from None
    except OSError as exc:
        raise SanitizeError(f"cannot read {url}: {exc}") from None


def _image_folder(url: str, store: ObjectStore) -> Dataset:
    """Class index = position in the sorted names of the prefixes under `url`, as on disk."""
    fs = store.filesystem()
    protocol = url.split("://", 1)[0]
    class_dirs = sorted(
        entry["name"].rstrip("/").rsplit("/", 1)[-1]
        for entry in fs.ls(url, detail=True)
        if entry["type"] == "directory"
    )
    if not class_dirs:
        raise SanitizeError(f"{url} has no class prefixes (expected ImageFolder: root/<class>/<file>)")

    def listing() -> Iterator[Sample]:
        index = 0
        for label, name in enumerate(class_dirs):
            for rel, _ in _sample_keys(fs, protocol, url, f"{url}/{name}", None):
                yield Sample.under(url, index, rel, str(label))
                index += 1

    return Dataset("imagefolder", url, url, listing, class_names=class_dirs, store=store)


def _sample_keys(fs: Any, protocol: str, root: str, folder: str, skip: str | None) -> list[tuple[str, PurePosixPath]]:
    """(path relative to `root`, path relative to `folder`) of the sample objects under `folder`,
    sorted; none under `skip` (a mask prefix nested in the image prefix)."""
    found = []
    for key in sorted(fs.find(folder)):
        url = f"{protocol}://{key}"
        if sample_suffix(key.rsplit("/", 1)[-1]) not in EXTENSION_FORMATS or (skip and url.startswith(skip + "/")):
            continue
        found.append((url[len(root) + 1 :], PurePosixPath(url[len(folder) + 1 :])))
    return found


def pairs(
    images: str,
    masks: str,
    store: ObjectStore,
    *,
    image_suffix: str,
    mask_suffix: str,
    root: str | None,
) -> Dataset:
    """Segmentation from an image prefix and a mask prefix, paired as folderpairs pairs folders."""
    fs = store.fresh_filesystem()
    images, masks = (normalized(url.rstrip("/")) for url in (images, masks))
    for url, option in ((images, "--images"), (masks, "--masks")):
        if _status(fs, url).get("type") != "directory":
            raise SanitizeError(f"{option} is not a prefix in object storage: {url}")
    protocol, image_key = images.split("://", 1)
    if not masks.startswith(f"{protocol}://"):
        raise SanitizeError(f"--images and --masks must be in the same kind of store: {images}, {masks}")
    if root is None:
        root = f"{protocol}://{posixpath.commonpath([image_key, masks.split('://', 1)[1]])}"
    root = normalized(root.rstrip("/"))
    for url, option in ((images, "--images"), (masks, "--masks")):
        if url != root and not url.startswith(root + "/"):
            raise SanitizeError(f"{option} {url} is not inside --root {root}")
    mask_keys = _sample_keys(fs, protocol, root, masks, None)
    image_keys = _sample_keys(fs, protocol, root, images, masks if masks != images else None)
    found = folderpairs.paired(image_keys, mask_keys, image_suffix, mask_suffix)
    samples = [Sample.under(root, i, rel, mask=mask) for i, (rel, mask) in enumerate(found)]
    return Dataset(
        "folderpairs", images, root, lambda: iter(samples), size=len(samples), task="segmentation", store=store
    )


def read(
    source: str,
    store: ObjectStore,
    *,
    root: str | None,
    path_column: str,
    label_column: str,
    task: str | None,
) -> Dataset:
    """The dataset at `source`: an ImageFolder when it is a prefix, else a list file (a CSV by its
    .csv suffix) whose paths resolve against `root` (default: the list's own prefix)."""
    url = normalized(source.rstrip("/"))
    status = _status(store.fresh_filesystem(), url)
    if task == "segmentation" and (status.get("type") == "directory" or url.lower().endswith(".csv")):
        raise SanitizeError("segmentation takes a list file of `image mask` lines")
    if status.get("type") == "directory":
        if root is not None:
            raise SanitizeError("--root applies to list and CSV files, not to a folder")
        return _image_folder(url, store)
    base = normalized(root.rstrip("/")) if root is not None else url.rsplit("/", 1)[0]
    if url.lower().endswith(".csv"):
        return csvfile.read(url, base, path_column=path_column, label_column=label_column, store=store)
    return listfile.read(url, base, task=task, store=store)
