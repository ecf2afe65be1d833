"""Reuse: which stored results still hold for this audit, and turning them back into results.

A stored result is reused while its fingerprints match: the file's size and mtime_ns (and its
blake2b hash with verify_hashes), and the configuration fields and library versions it depends
on. Which ScanConfig fields a kind of result depends on is declared with each field
(config.option's `invalidates`); see sanitize.audit for the whole rule.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from array import array
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from sanitize.audit.store import StoredRow, db_text, read_rows
from sanitize.checks import check_mask_path, check_paths
from sanitize.checks.label import check_label, has_label
from sanitize.config import FILE, MASK, PROBE, ScanConfig, invalidating
from sanitize.findings import Finding
from sanitize.labels import parse_label
from sanitize.model import BatchResult, CleanColumns, ImageInfo, Loaded, Sample, SampleResult
from sanitize.remote import ObjectStore, normalized, object_stat
from sanitize.report.summary import versions
from sanitize.storage import file_digest, file_stat

#: ScanConfig fields the file results depend on.
FILE_FIELDS = invalidating(ScanConfig, FILE)
#: ScanConfig fields the mask checks depend on: part of the file results of segmentation.
MASK_FIELDS = invalidating(ScanConfig, MASK)
#: ScanConfig fields the probe results depend on (besides the pixels and the label text).
PROBE_FIELDS = invalidating(ScanConfig, PROBE)
#: Libraries whose version changes what a file check concludes.
DECODER_PACKAGES = ("sanitize", "pillow", "numpy", "simplejpeg")
#: Findings of a check that failed instead of judging the file (pipeline.crashed_result, check_batch's
#: internal error): often a one-off, so their row gets no file fingerprint and every audit checks again.
UNSETTLED = {("decode", "crashed"), ("decode", "timeout"), ("internal", "check_failed")}
#: Stored results reused per Collector.add or add_clean call.
REUSE_CHUNK = 4096
#: A file's (size, mtime_ns); both None when it cannot be stat'ed.
Stat = tuple[int | None, int | None]


class Identity(NamedTuple):
    """A sample's files as this audit found them, before any check read them."""

    stamp: str
    hash: str | None
    image: Stat
    mask: Stat | None


@dataclass(frozen=True)
class Fingerprints:
    """What stored file and probe results must have been checked under to be reused."""

    file: str
    probe: str | None  # None when the probe is off: stored probe results are not used

    @classmethod
    def of(cls, config: ScanConfig, real_root: Path | str) -> Fingerprints:
        found = versions()
        libraries = {name: found[name] for name in DECODER_PACKAGES}
        fields = FILE_FIELDS + (MASK_FIELDS if config.task == "segmentation" else ())
        file = config.fingerprint(fields, root=str(real_root), versions=libraries)
        return cls(file, config.fingerprint(PROBE_FIELDS, file=file) if config.probe else None)


def _file_hash(path: str) -> str:
    """blake2b of the file's bytes, or '-' if it cannot be read."""
    try:
        return file_digest(path, hashlib.blake2b(digest_size=16))
    except OSError:
        return "-"


def _content_hash(sample: Sample, real_root: Path) -> str:
    """The hashes of a sample's file and mask; '-' for one the paths check would not let be opened."""
    image = "-" if check_paths(sample, real_root) else _file_hash(sample.file)
    if sample.mask_file is None:
        return image
    return f"{image}|{'-' if check_mask_path(sample, real_root) else _file_hash(sample.mask_file)}"


def content_hashes(samples: list[Sample], real_root: Path) -> dict[int, str]:
    """Every sample's content hash, read by a few threads (hashing and reading release the GIL)."""
    with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
        found = pool.map(lambda sample: _content_hash(sample, real_root), samples)
        return dict(zip((s.index for s in samples), found, strict=True))


def _object_identity(sample: Sample, root: str, store: ObjectStore) -> Identity:
    """An object's identity from its status (a HEAD, never a GET): size, last-modified and ETag (a
    rewrite that keeps size and time still changes the ETag). An entry outside the root prefix is
    not looked at (the scan refuses it unread), nor one that cannot be looked up."""
    url = normalized(sample.file)
    status: dict = {}
    if url.startswith(root.rstrip("/") + "/"):
        try:
            status = store.filesystem().info(url)
        except (OSError, ValueError):
            status = {}
    image = object_stat(status)
    etag = status.get("ETag") or status.get("etag") or status.get("md5Hash") or "-"
    return Identity(f"{image[0]}:{image[1]}:{etag}", None, image, None)


def identity_of(
    sample: Sample, content_hash: str | None, root: str | None = None, store: ObjectStore | None = None
) -> Identity:
    """The sample's files as this audit finds them: stat'ed, or (`store`) looked up in object storage."""
    if store is not None:
        return _object_identity(sample, root or "", store)
    image = file_stat(sample.file)
    if sample.mask_file is None:
        return Identity(f"{image[0]}:{image[1]}", content_hash, image, None)
    mask = file_stat(sample.mask_file)
    return Identity(f"{image[0]}:{image[1]}|{mask[0]}:{mask[1]}", content_hash, image, mask)


def _info_json(info: ImageInfo, stat: Stat | None) -> dict[str, Any]:
    """An ImageInfo to store: size and mtime_ns are left out when they are the audit's own stat of
    the file (they are put back from the stat of the audit that reuses the result)."""
    data = asdict(info)
    if (data["size"], data["mtime_ns"]) == stat:
        del data["size"], data["mtime_ns"]
    return data


def _mask_json(result: SampleResult, stat: Stat | None) -> str | None:
    if result.mask_info is None and result.mask_values is None:
        return None
    mask = {
        "info": _info_json(result.mask_info, stat) if result.mask_info is not None else None,
        "values": result.mask_values,
        "regions": list(result.mask_regions),
        "digest": result.mask_digest,
    }
    return json.dumps(mask)


def _with_stat(data: dict[str, Any], stat: Stat | None) -> ImageInfo:
    size, mtime_ns = stat or (None, None)
    return ImageInfo(**{"size": size, "mtime_ns": mtime_ns, **data})


class StoredResults:
    """Turns stored rows back into SampleResults, label results re-evaluated, in check_batch's order.

    One JSON parse per distinct stored info and one label check per distinct label text (a
    Finding is frozen, so samples with the same label share theirs).
    """

    def __init__(self, config: ScanConfig) -> None:
        self.config = config
        self.infos: dict[str, dict[str, Any]] = {}
        self.labels: dict[str | None, tuple[int | None, list[Finding]]] = {}

    def label(self, sample: Sample) -> tuple[int | None, list[Finding]]:
        """(class index, label findings) of the sample's label text under this audit's configuration."""
        if not has_label(sample):
            return None, []
        label = self.labels.get(sample.label)
        if label is None:
            findings = check_label(Loaded(sample, ImageInfo()), self.config)
            label = self.labels[sample.label] = (parse_label(sample.label, self.config)[0], findings)
        return label

    def info(self, text: str) -> dict[str, Any]:
        info = self.infos.get(text)
        if info is None:
            info = self.infos[text] = json.loads(text)
        return info

    def clean(self, found: list[tuple[Sample, StoredRow, Stat]]) -> BatchResult:
        """(sample, row, stat of its file) of reused results without findings, as columns."""
        probe = self.config.probe
        infos: dict[str, int] = {}
        info_index = [infos.setdefault(row.info, len(infos)) for _, row, _ in found]
        nan = float("nan")
        columns = CleanColumns(
            indices=np.array([sample.index for sample, _, _ in found], dtype=np.int64),
            class_index=np.array(
                [-1 if (c := self.label(sample)[0]) is None else c for sample, _, _ in found], dtype=np.int64
            ),
            labelled=np.array([sample.label is not None for sample, _, _ in found], dtype=bool),
            magnitudes=np.array(
                [row.magnitude if probe and row.magnitude is not None else nan for _, row, _ in found], dtype=np.float64
            ),
            losses=np.array([row.loss if probe and row.loss is not None else nan for _, row, _ in found]),
            file_stats=np.array([stat for _, _, stat in found], dtype=np.int64).reshape(-1, 2),
            infos=[replace(_with_stat(self.info(text), None), size=None, mtime_ns=None) for text in infos],
            info_index=np.array(info_index, dtype=np.int32),
            digests=np.array([row.digest for _, row, _ in found], dtype=np.int64),
            phashes=np.array([row.phash for _, row, _ in found], dtype=np.int64),
        )
        return BatchResult(columns, [])

    def result(self, sample: Sample, row: StoredRow, identity: Identity) -> SampleResult:
        label_index, label_findings = self.label(sample)
        info = self.info(row.info)
        stored = [Finding.from_dict(d) for d in json.loads(row.findings)] if row.findings else []
        findings = [f for f in stored if f.check not in ("label", "probe")] + label_findings
        magnitude = loss = None
        if self.config.probe:
            findings.extend(f for f in stored if f.check == "probe")
            magnitude, loss = row.magnitude, row.loss
        result = SampleResult(
            sample.index, sample.path, sample.label, findings, _with_stat(info, identity.image), label_index
        )
        result.magnitude, result.loss, result.mask = magnitude, loss, sample.mask
        result.digest, result.phash = row.digest or 0, row.phash or 0
        if row.mask_result:
            mask = json.loads(row.mask_result)
            result.mask_info = _with_stat(mask["info"], identity.mask) if mask["info"] is not None else None
            if mask["values"] is not None:
                result.mask_values = {int(value): count for value, count in mask["values"].items()}
            result.mask_regions = tuple(mask["regions"])
            result.mask_digest = mask.get("digest", 0)
        return result


def stored_rows(
    batch: BatchResult,
    keys: list[str],
    samples: list[Sample],
    identities: dict[int, Identity],
    fingerprints: Fingerprints,
    ignore_label: int | None = None,
) -> Iterator[tuple]:
    """The rows for _UPSERT of a freshly checked batch: its flagged results one by one, its clean
    columns with one JSON text per distinct info (size and mtime_ns left out, as _info_json does,
    when they are the audit's own stat of the file)."""
    for result in batch.flagged:
        yield stored_row(result, keys[result.index], identities[result.index], fingerprints)
    clean = batch.clean
    plain = [json.dumps(_info_json(info, (info.size, info.mtime_ns))) for info in clean.infos]
    head = (fingerprints.file, fingerprints.probe)
    for index, info_index, stat, magnitude, loss, class_index, labelled, digest, phash in zip(
        clean.indices.tolist(),
        clean.info_index.tolist(),
        clean.file_stats.tolist(),
        clean.magnitudes.tolist(),
        clean.losses.tolist(),
        clean.class_index.tolist(),
        clean.labelled.tolist(),
        clean.digests.tolist(),
        clean.phashes.tolist(),
        strict=True,
    ):
        identity = identities[index]
        if tuple(stat) == identity.image:  # the common case: checked as the audit found it
            info = plain[info_index]
        else:
            info = json.dumps(
                _info_json(replace(clean.infos[info_index], size=stat[0], mtime_ns=stat[1]), identity.image)
            )
        yield (
            db_text(keys[index]),
            identity.stamp,
            identity.hash,
            *head,
            db_text(_clean_label(samples[index], class_index, labelled, ignore_label)),
            None,
            info,
            None,
            None if math.isnan(magnitude) else magnitude,
            None if math.isnan(loss) else loss,
            digest,
            phash,
        )


def _clean_label(sample: Sample, class_index: int, labelled: bool, ignore_label: int | None) -> str | None:
    """The label text a clean sample was checked with: the listed one; for an LMDB record, whose
    label the worker read from its Datum (an integer, so its text is canonical), the class it
    counted as, or else the ignore label (the only other label a clean sample can have)."""
    if sample.member is None or sample.member.kind != "lmdb":
        return sample.label
    if class_index >= 0:
        return str(class_index)
    return str(ignore_label) if labelled and ignore_label is not None else None


def stored_row(result: SampleResult, key: str, identity: Identity, fingerprints: Fingerprints) -> tuple:
    """A freshly checked sample's row for _UPSERT; an UNSETTLED result's file fingerprint is '' (never reused)."""
    findings = json.dumps([f.to_dict() for f in result.findings]) if result.findings else None
    info = json.dumps(_info_json(result.info, identity.image))
    settled = not any((f.check, f.code) in UNSETTLED for f in result.findings)
    file_fp = fingerprints.file if settled else ""
    key, label = db_text(key), db_text(result.label)  # a name that is not UTF-8: bytes (store.db_text)
    head = (key, identity.stamp, identity.hash, file_fp, fingerprints.probe, label, findings, info)
    return (*head, _mask_json(result, identity.mask), result.magnitude, result.loss, result.digest, result.phash)


@dataclass
class Plan:
    """What the store lets this audit reuse, and what the last completed audit said of each sample."""

    to_check: list[Sample]
    identities: dict[int, Identity]  # the files as they were before checking, per sample to check
    base_error: np.ndarray  # per sample: -1 not in the last completed audit, 0 clean, 1 errors
    gone: list[str]  # store keys no longer in the dataset
    removed: list[str]  # their paths, for those in the last completed audit
    reused: int = 0


def _with_record_label(sample: Sample, row: StoredRow) -> Sample:
    """An LMDB record's sample with the label its stored result read from the record: the listing
    has none (labels are in the records), and the record is unchanged whenever its result is
    reused (every record's identity is the database file's size and mtime, which any write
    changes), so the stored label is the record's and is judged again under this configuration."""
    if sample.member is None or sample.member.kind != "lmdb":
        return sample
    return sample._replace(label=row.label)


def plan_reuse(
    conn: sqlite3.Connection,
    samples: list[Sample],
    index_of: dict[str, int],
    config: ScanConfig,
    fingerprints: Fingerprints,
    hashes: dict[int, str] | None,
    on_reused: Callable[[BatchResult], None],
    root: str | None = None,
    store: ObjectStore | None = None,
) -> Plan:
    """One pass over the store. Stored results that still hold are reused, in chunks handed to
    `on_reused`: those without findings (or a mask) as columns, the common case made cheap
    (building a SampleResult per clean sample cost more than its stat), the rest as results."""
    base_error = array("b", [-1]) * len(samples)
    matched = bytearray(len(samples))
    plan = Plan([], {}, np.empty(0), [], [])
    chunk: list[SampleResult] = []
    clean: list[tuple[Sample, StoredRow, Stat]] = []
    stored = StoredResults(config)
    verify = hashes is not None
    hashes = hashes or {}
    for row in read_rows(conn, fingerprints.file, fingerprints.probe):
        index = index_of.get(row.key)
        if index is None:
            plan.gone.append(row.key)
            if row.base_error is not None:
                plan.removed.append(row.key.split("\0", 1)[0])
            continue
        listed = samples[index]
        sample = _with_record_label(listed, row)
        matched[index] = 1
        if row.base_error is not None:
            base_error[index] = row.base_error
        identity = identity_of(sample, hashes.get(index), root, store)
        file_ok = (
            row.file_ok
            and row.stamp == identity.stamp
            and (not verify or row.hash == identity.hash)
            and row.digest is not None  # stored before the duplicate checks: hash it now
        )
        probe_ok = fingerprints.probe is None or (row.probe_ok and row.label == sample.label)
        if not (file_ok and probe_ok):
            if file_ok and not verify:  # unchanged by its stamp: its stored hash still stands
                identity = identity._replace(hash=row.hash)
            plan.to_check.append(listed)
            plan.identities[index] = identity
        elif (
            row.findings is None
            and row.mask_result is None
            and identity.image[0] is not None
            and not stored.label(sample)[1]
        ):
            clean.append((sample, row, identity.image))
            if len(clean) >= REUSE_CHUNK:
                on_reused(stored.clean(clean))
                clean = []
        else:
            chunk.append(stored.result(sample, row, identity))
            if len(chunk) >= REUSE_CHUNK:
                on_reused(BatchResult(CleanColumns.of([]), chunk))
                chunk = []
    if clean:
        on_reused(stored.clean(clean))
    if chunk:
        on_reused(BatchResult(CleanColumns.of([]), chunk))
    for index in (i for i, seen in enumerate(matched) if not seen):
        plan.to_check.append(samples[index])
        plan.identities[index] = identity_of(samples[index], hashes.get(index), root, store)
    plan.to_check.sort(key=lambda s: s.index)
    plan.reused = len(samples) - len(plan.to_check)
    plan.base_error = np.frombuffer(base_error, dtype=np.int8)
    return plan
