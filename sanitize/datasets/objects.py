"""Datasets in object storage: a list file or CSV that is an object, or an ImageFolder under a
prefix (`s3://bucket/train/<class>/<file>`). The listing is read here, on the client; the objects
themselves are opened by the workers (see sanitize.remote)."""

from __future__ import annotations

from collections.abc import Iterator

from sanitize.datasets import Dataset, csvfile, listfile
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
            found = fs.find(f"{url}/{name}")  # recursive, without the protocol
            keys = sorted(key for key in found if sample_suffix(key.rsplit("/", 1)[-1]) in EXTENSION_FORMATS)
            for key in keys:
                rel = f"{protocol}://{key}"[len(url) + 1 :]
                yield Sample.under(url, index, rel, str(label))
                index += 1

    return Dataset("imagefolder", url, url, listing, class_names=class_dirs, store=store)


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
