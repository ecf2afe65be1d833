"""Dataset readers: each turns one kind of input into a stream of Samples.

A reader never opens a sample's file; it only names it. Whether the name is safe to open
is decided by the paths check, in the same place for every kind of input.

A Dataset lists its samples afresh each time it is iterated, in the same order, holding none of
them: a scan draws them batch by batch, so its memory does not grow with the dataset's length
(a list of 100M lines is never in memory at once). `samples` materialises the list for the
callers that need all of it at once (an audit matches every sample against its store).
"""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from sanitize.config import TASKS, option
from sanitize.errors import SanitizeError, temporary_files_failed
from sanitize.formats import HEAD_SIZE, is_image_format, sniff
from sanitize.model import Sample
from sanitize.remote import ObjectStore, is_url, local_path, parse_options, store_of


@dataclass
class Dataset:
    """The samples of one input plus what the input itself says about the classes.

    `listing` makes a fresh pass over the samples; `size` is their count when it is known
    without keeping them (a list or CSV file is counted while it is read the first time)."""

    kind: str
    source: Path
    root: Path
    listing: Callable[[], Iterator[Sample]]
    size: int | None = None
    class_names: list[str] | None = None
    task: str = "classification"
    #: How workers reach the samples when the dataset is in object storage (None: local files).
    store: ObjectStore | None = None

    def __iter__(self) -> Iterator[Sample]:
        return self.listing()

    @functools.cached_property
    def samples(self) -> list[Sample]:
        """Every sample, in memory (for the callers that need them all at once)."""
        listed = list(self)
        self.size = len(listed)
        return listed

    def is_empty(self) -> bool:
        return self.size == 0 if self.size is not None else next(iter(self), None) is None

    @property
    def num_classes(self) -> int | None:
        """The class count the input implies (only an ImageFolder implies one)."""
        return len(self.class_names) if self.class_names is not None else None


def open_dataset(
    source: Path | str,
    *,
    root: Path | str | None = None,
    path_column: str = "path",
    label_column: str = "label",
    exclude: tuple[Path, ...] = (),
    task: str | None = None,
    label_member: str = "cls",
    label_field: str | None = None,
) -> Dataset:
    """Read a dataset: a directory holding data.mdb is a Caffe LMDB; a .tar, a folder of them, or a
    brace or glob pattern are WebDataset shards; another directory is an ImageFolder, a .csv a CSV,
    anything else a list file.

    `task` None lets a list file say what it is (`image mask` lines are segmentation).
    """
    from sanitize.datasets import csvfile, imagefolder, listfile, lmdbfile, webdataset

    source = Path(source)
    pattern = webdataset.is_pattern(str(source)) and not source.exists()
    if not pattern and not source.exists():
        raise SanitizeError(f"dataset not found: {source}")
    containers = pattern or lmdbfile.is_lmdb(source) or webdataset.looks_like_shards(source)
    if task == "segmentation" and (source.is_dir() or source.suffix.lower() == ".csv" or containers):
        raise SanitizeError("segmentation takes a list file of `image mask` lines, or --images DIR --masks DIR")
    if containers and root is not None:
        raise SanitizeError("--root applies to list and CSV files, not to an LMDB or tar shards")
    if lmdbfile.is_lmdb(source):
        return lmdbfile.read(source)
    if containers:
        return webdataset.read(str(source), label_member, label_field)
    if source.is_dir():
        if root is not None:
            raise SanitizeError("--root applies to list and CSV files, not to a folder")
        return imagefolder.read(source, exclude=exclude)
    root_dir = Path(root) if root is not None else source.parent
    if not root_dir.is_dir():
        raise SanitizeError(f"--root is not a directory: {root_dir}")
    if source.suffix.lower() == ".csv":
        return csvfile.read(source, root_dir, path_column=path_column, label_column=label_column)
    return listfile.read(source, root_dir, task=task)


#: File names are str with lone surrogates where their bytes are not UTF-8 (os.fsdecode): the
#: record keeps them as they are, so that what is read back is what was drawn.
_ENCODING = {"encoding": "utf-8", "errors": "surrogatepass"}


class ListedSamples:
    """The samples a scan drew from its dataset, in order, recorded as they are drawn in a
    temporary file: the record of what was scanned. The report's clean.txt and its samples come
    from here, not from listing the dataset again, which may have changed since (a line appended
    or inserted, a file added) and would put samples never checked into clean.txt.

    Each line of the file is a JSON array of up to ROWS samples' [index, path, label, mask]: one
    encoding per sample cost the client 3 us of its ~12 a sample, one per ROWS samples costs a
    fraction of that. Rows drawn but not yet written are written before the record is read."""

    ROWS = 1024

    def __init__(self, root: Path | str) -> None:
        self.root = os.fspath(root)
        try:  # named, so each pass opens it afresh (a position of its own); removed when collected
            self._file = tempfile.NamedTemporaryFile("w", **_ENCODING, prefix="sanitize-listed-")  # noqa: SIM115
        except OSError as exc:
            raise temporary_files_failed(exc) from None
        self._rows: list[tuple[int, str, str | None, str | None]] = []
        self.count = 0

    def record(self, samples: Iterable[Sample]) -> Iterator[Sample]:
        """Pass `samples` through, recording each."""
        rows = self._rows
        for sample in samples:
            rows.append((sample.index, sample.path, sample.label, sample.mask))
            if len(rows) >= self.ROWS:
                self._write_rows()
            self.count += 1
            yield sample

    def _write_rows(self) -> None:
        try:
            self._file.write(json.dumps(self._rows, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise temporary_files_failed(exc) from None
        self._rows.clear()

    def rows(self) -> Iterator[list[Any]]:
        """Each drawn sample's [index, path, label, mask], without making its Sample: all that
        clean.txt needs (making 300,000 Samples took a quarter of a second of a scan's end)."""
        if self._rows:
            self._write_rows()
        self._file.flush()
        with open(self._file.name, **_ENCODING) as reader:
            for line in reader:
                yield from json.loads(line)

    def __iter__(self) -> Iterator[Sample]:
        root = self.root
        for index, path, label, mask in self.rows():
            yield Sample.under(root, index, path, label, mask)

    def __len__(self) -> int:
        return self.count


#: A list or CSV file is UTF-8 (a BOM skipped), but a POSIX file name is bytes: one that is not
#: UTF-8 is read as os.fsdecode reads it (lone surrogates), so it names that very file, as clean.txt
#: writes it (storage.atomic_write_text).
_LIST_ENCODING = {"encoding": "utf-8-sig", "errors": "surrogateescape"}

#: The UTF-16 byte order marks (FF FE, FE FF; UTF-32's begin so too) as _LIST_ENCODING reads them.
_UTF16_BOMS = ("\udcff\udcfe", "\udcfe\udcff")


def open_text(source: Path | str, fs: Any = None) -> IO[str]:
    """A list or CSV file opened as text (_LIST_ENCODING): a local file, or an object through `fs`.
    A sample file given where its list was meant (an image, a .npy: any format formats.sniff
    knows) is a one-line SanitizeError: read as text, its bytes would be a list of odd names."""
    handle = fs.open(str(source), "rb") if fs is not None else open(source, "rb")  # noqa: SIM115 - returned
    try:  # one open for both: in object storage each open is requests of its own
        kind = sniff(handle.read(HEAD_SIZE))
        handle.seek(0)
        if is_image_format(kind) or kind == "NPY":
            raise SanitizeError(f"{source} is a {kind} file, not a list of samples")
    except BaseException:
        handle.close()
        raise
    return io.TextIOWrapper(handle, newline="", **_LIST_ENCODING)  # as open() and fsspec make text


def text_lines(source: Path | str, fs: Any = None) -> Iterator[str]:
    """A list file's lines (str.splitlines' rule), read as they are needed, or a one-line
    SanitizeError saying why the file cannot be read (`fs`: an object store's filesystem). A file
    that starts with a UTF-16 (or UTF-32) byte order mark is not UTF-8 text at all: every line of
    it would be a name of NUL bytes (one is a missing file, as paths.check_paths says)."""
    lines = 0
    try:
        with open_text(source, fs) as handle:
            for chunk in handle:
                for line in chunk.splitlines():
                    lines += 1
                    if lines == 1 and line.startswith(_UTF16_BOMS):
                        raise SanitizeError(f"{source} is not UTF-8 text (it starts with a UTF-16 byte order mark)")
                    yield line
    except OSError as exc:
        raise SanitizeError(f"cannot read {source}: {exc.strerror}") from None


def read_text(source: Path) -> str:
    """A list or CSV file's text (_LIST_ENCODING), or a one-line SanitizeError saying why it cannot be read."""
    try:
        with open(source, **_LIST_ENCODING) as handle:  # newlines made \n, as Path.read_text does
            return handle.read()
    except OSError as exc:
        raise SanitizeError(f"cannot read {source}: {exc.strerror}") from None


@dataclass(frozen=True)
class DatasetInput:
    """What names a dataset, as scan() and audit() take it: a DATASET (`source`), or an `images` and
    a `masks` folder, and how to read it. Each field is an option declared once (see config.option)."""

    source: Path | str | None = None
    root: Path | str | None = option(
        None,
        help="Folder (or object-storage prefix) the list/CSV paths resolve against. Default: the list's folder.",
        cli_type=str | None,  # not a Path: an s3:// URL would lose a slash
    )
    path_column: str = option("path", help="CSV column holding the sample path.")
    label_column: str = option("label", help="CSV column holding the label.")
    task: str | None = option(None, help="classification or segmentation. Default: what the list file's lines say.")
    images: Path | str | None = option(
        None, help="Segmentation: image folder or prefix (with --masks, no DATASET).", cli_type=str | None
    )
    masks: Path | str | None = option(
        None, help="Segmentation: mask folder or prefix, matched to --images by name.", cli_type=str | None
    )
    image_suffix: str = option("", help="Stripped from image names to match (_leftImg8bit).")
    mask_suffix: str = option("", help="Added to the image name to find its mask (_labelIds.png).")
    palette: Path | str | None = option(
        None, help='JSON {"R,G,B": class} for RGB colour-coded masks.', cli_type=Path | None
    )
    storage_options: tuple[tuple[str, str], ...] = option(
        (),
        help="KEY=VALUE passed to the object store's fsspec filesystem (repeatable), e.g. endpoint_url=...",
        flag="--storage-option",
        cli_type=list[str] | None,
        cli_default=None,
        parse=parse_options,
    )
    label_member: str = option("cls", help="WebDataset: the extension of the member holding the label (e.g. json).")
    label_field: str | None = option(None, help="WebDataset: the label's field in a JSON label member.")
    exclude: tuple[Path, ...] = option(
        (),
        help="A folder inside the dataset that is not part of it (repeatable).",
        cli_type=list[Path] | None,
        cli_default=None,
        parse=lambda paths: tuple(Path(p) for p in paths or ()),
    )
    against: tuple[str, ...] = option(
        (),
        help=(
            "A validation set (list, CSV, ImageFolder or object-storage URL, repeatable): training samples whose"
            " files are in it are leakage:exact errors, near duplicates leakage:near warnings. Hashed, not checked."
        ),
        cli_type=list[str] | None,
        cli_default=None,
        parse=lambda sources: tuple(str(s) for s in sources or ()),
    )

    def references(self) -> tuple[Dataset, ...]:
        """The validation sets (`against`), each opened as a dataset of its own kind (a list or CSV
        relative to its own folder), in object storage with this input's storage options."""
        sources = (self.against,) if isinstance(self.against, (str, Path)) else self.against
        return tuple(DatasetInput(source=source, storage_options=self.storage_options).open() for source in sources)

    def _open_objects(self, task: str | None) -> Dataset:
        from sanitize.datasets import objects, webdataset

        if self.root is not None and not is_url(str(self.root)):
            raise SanitizeError(f"--root of a dataset in object storage must be a URL too, got {self.root}")
        store = store_of(str(self.source), self.storage_options)
        source = str(self.source)
        if (
            webdataset.is_pattern(source)
            or source.lower().endswith(".tar")
            or webdataset.prefix_holds_shards(source, store)
        ):
            return webdataset.read(str(self.source), self.label_member, self.label_field, store)
        return objects.read(
            str(self.source),
            store,
            root=None if self.root is None else str(self.root),
            path_column=self.path_column,
            label_column=self.label_column,
            task=task,
        )

    @classmethod
    def names(cls) -> set[str]:
        return {item.name for item in fields(cls)}

    def open(self, exclude: tuple[Path, ...] = ()) -> Dataset:
        """The dataset (see open_dataset), or the `images`/`masks` folder pair; `exclude` adds to self.exclude."""
        from sanitize.datasets import folderpairs

        task, exclude = self.task, (*self.exclude, *exclude)
        if task not in (None, *TASKS):
            raise SanitizeError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
        pairs = self.images is not None or self.masks is not None
        if pairs == (self.source is not None) or (self.images is None) != (self.masks is None):
            raise SanitizeError("give a DATASET, or --images DIR and --masks DIR (not both)")
        if self.source is not None and is_url(str(self.source)):
            return self._open_objects(task)
        if not pairs:
            return open_dataset(
                local_path(str(self.source)),
                root=self.root,
                path_column=self.path_column,
                label_column=self.label_column,
                exclude=exclude,
                task=task,
                label_member=self.label_member,
                label_field=self.label_field,
            )
        if task == "classification":
            raise SanitizeError("--images/--masks are a segmentation dataset; drop --task classification")
        if is_url(str(self.images)) or is_url(str(self.masks)):
            from sanitize.datasets import objects

            return objects.pairs(
                str(self.images),
                str(self.masks),
                store_of(str(self.images), self.storage_options),
                image_suffix=self.image_suffix,
                mask_suffix=self.mask_suffix,
                root=None if self.root is None else str(self.root),
            )
        return folderpairs.read(
            Path(self.images),
            Path(self.masks),
            image_suffix=self.image_suffix,
            mask_suffix=self.mask_suffix,
            root=Path(self.root) if self.root is not None else None,
            exclude=exclude,
        )


__all__ = ["Dataset", "DatasetInput", "open_dataset", "read_text"]
