"""A Caffe LMDB dataset: a folder holding `data.mdb`, one serialised Datum per record.

The client lists keys only: a cursor walks the B-tree's leaf pages, and a record's value (an image
of kilobytes, stored on overflow pages of its own) is never touched here, so listing costs a small
fraction of reading the database. Each sample names the database (its `data.mdb`, so the paths
check holds it to the root like any file) and its key; the worker reads the record (load.container).
Labels are in the records, so the listing has none: the worker gives the sample the Datum's label.

The database is opened read-only with `lock=False`: no `lock.mdb` is created or written, so a
database on a read-only mount scans, and a writer is never blocked (LMDB's readers need no lock
for a consistent snapshot: http://www.lmdb.tech/doc/group__mdb.html#ga32a193c6bf4d7d5c5d579e71f22e9340).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sanitize.datasets import Dataset
from sanitize.errors import SanitizeError
from sanitize.model import Member, Sample
from sanitize.storage import open_lmdb

DATA_FILE = "data.mdb"


def is_lmdb(source: Path) -> bool:
    return source.is_dir() and (source / DATA_FILE).is_file()


def key_path(key: bytes) -> str:
    """A record key as the report names it: UTF-8 text (Caffe's `%08d_name` keys are), other bytes escaped."""
    return key.decode("utf-8", errors="backslashreplace")


def read(source: Path) -> Dataset:
    import lmdb

    data_file = str(source / DATA_FILE)
    try:
        env = open_lmdb(data_file)
        entries = env.stat()["entries"]
    except lmdb.Error as exc:
        raise SanitizeError(f"cannot open the LMDB {source}: {exc}") from None

    def listing() -> Iterator[Sample]:
        with env.begin() as txn, txn.cursor() as cursor:
            for index, key in enumerate(cursor.iternext(keys=True, values=False)):
                member = Member("lmdb", key.decode("latin-1"))
                yield Sample(index, key_path(key), data_file, None, member=member)

    return Dataset("lmdb", source, source, listing, size=entries)
