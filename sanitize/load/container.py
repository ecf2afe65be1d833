"""Read one sample out of a container on a worker: a Caffe LMDB record or a WebDataset sample.

The client never ships bytes: a sample names its container (Sample.file) and where it lies in it
(Sample.member, see model.Member), and the worker reads just that.

- **LMDB**: the environment is opened once per worker process, read-only with `lock=False` (no
  lock file is written, so a database on a read-only filesystem or share is fine, and a scan
  never blocks the writer), and each record is fetched by key. A batch is a run of consecutive
  keys (the listing's order is the database's), so its reads walk the B-tree's leaves in order.
  The record is a Caffe Datum (load.datum): encoded data is an image file and gets every image
  check (its format from its bytes); raw data is channels x height x width uint8, or float_data.
  The label is the Datum's, so the sample goes on with it (the listing read only keys).
- **tar shard**: the listing read each member's header and knows where its bytes are, so a worker
  reads the image member at its offset (a batch is a contiguous run of a shard, so its reads go
  forward through the file; from object storage each is one ranged GET).
"""

from __future__ import annotations

from collections.abc import Mapping

import lmdb
import numpy as np

from sanitize.arrays import count_nonfinite
from sanitize.config import ScanConfig
from sanitize.findings import error
from sanitize.formats import HEAD_SIZE, sniff
from sanitize.load.datum import NotADatum, parse_datum
from sanitize.load.image import decode, oversized, record_stat
from sanitize.model import ImageInfo, Loaded, Sample
from sanitize.remote import ObjectStore, object_stat
from sanitize.storage import open_lmdb


def _load_record(loaded: Loaded, config: ScanConfig) -> None:
    sample, info = loaded.sample, loaded.info
    with open(sample.file, "rb") as handle:
        record_stat(handle, info)
    with open_lmdb(sample.file).begin(buffers=True) as txn:
        view = txn.get(sample.member.key.encode("latin-1"))  # the mapped record: nothing copied yet
        if view is None:
            loaded.findings.append(error("container", "missing_record", "no such key in the database any more"))
            return
        if reason := oversized(ImageInfo(size=len(view)), config):  # as a file's, before it is read
            loaded.findings.append(error("decode", "too_large", f"record of {reason}"))
            return
        value = bytes(view)
    try:
        datum = parse_datum(value)
    except NotADatum as exc:
        loaded.findings.append(error("container", "not_a_datum", f"not a Caffe Datum: {exc}"))
        return
    loaded.sample = sample._replace(label=str(datum.label))
    if datum.encoded:
        info.format = sniff(datum.data[:HEAD_SIZE])
        decode(datum.data, loaded, config)
        return
    _raw_pixels(datum.channels, datum.height, datum.width, datum.data, datum.float_data, loaded)


def _raw_pixels(channels: int, height: int, width: int, data: bytes, floats: bytes, loaded: Loaded) -> None:
    """A raw Datum's pixels (C x H x W, Caffe's layout) as the H x W x C array the probe takes (no
    bomb check: the record is in memory already, and its length is checked against its shape)."""
    info = loaded.info
    info.decoder, info.channels, info.height, info.width, info.frames = "datum", channels, height, width, 1
    expected = channels * height * width
    values, kind = (data, "data") if data else (floats, "float_data")
    count = len(values) if data else len(values) // 4
    if min(channels, height, width) < 1 or count != expected:
        shape = f"{channels} x {height} x {width}"
        message = f"{kind} holds {count:,} values, a {shape} Datum needs {max(expected, 0):,}"
        loaded.findings.append(error("container", "raw_size", message))
        return
    array = np.frombuffer(values, dtype=np.uint8 if data else "<f4").reshape(channels, height, width)
    info.mode, info.bit_depth = ("uint8" if data else "float32"), (8 if data else 32)
    loaded.pixels = array.transpose(1, 2, 0)
    if not data:
        loaded.nonfinite = count_nonfinite(array, None)


def _load_tar_member(loaded: Loaded, config: ScanConfig, store: ObjectStore | None, status: dict | None) -> None:
    """The image member's bytes, decoded; the info's size and mtime_ns are the shard's (what
    quarantine would compare), its size limit the member's."""
    sample, info, member = loaded.sample, loaded.info, loaded.sample.member
    if reason := oversized(ImageInfo(size=member.size), config):
        loaded.findings.append(error("decode", "too_large", reason))
        return
    if store is not None:
        info.size, info.mtime_ns = object_stat(status or {})
        data = store.filesystem().cat_file(sample.file, start=member.offset, end=member.offset + member.size)
    else:
        with open(sample.file, "rb") as handle:
            record_stat(handle, info)
            handle.seek(member.offset)
            data = handle.read(member.size)
    if len(data) != member.size:
        loaded.findings.append(error("container", "corrupt_shard", f"{member.name}: the shard ends inside it"))
        return
    info.format = sniff(data[:HEAD_SIZE])
    decode(data, loaded, config)


def load_member(
    sample: Sample, config: ScanConfig, objects: Mapping[str, dict] | None = None, store: ObjectStore | None = None
) -> Loaded:
    """Read and decode one container sample; every problem becomes a finding on the result."""
    member = sample.member
    loaded = Loaded(sample, ImageInfo(), opened=member.problem is None)
    if member.problem is not None:
        loaded.findings.append(error("container", *member.problem))
        return loaded
    try:
        if member.kind == "lmdb":
            _load_record(loaded, config)
        else:
            _load_tar_member(loaded, config, store, (objects or {}).get(sample.file))
    except (OSError, lmdb.Error) as exc:  # the container cannot be read: not this sample's own fault alone
        loaded.findings.append(error("container", "unreadable", f"{type(exc).__name__}: {exc}"))
    return loaded
