"""Nightly audits: an incremental scan that keeps every sample's result in a SQLite store and
reports what changed since the previous audit.

A sample is re-checked (its file opened, through the scan's own pipeline) only when a result
it needs cannot be reused. What each kind of result depends on, and so when it is reused:

- file results (paths, decode, format, finite and mask findings; image and mask info, mask
  values): the file's size and mtime_ns, and its mask's (and their blake2b hashes with
  `verify_hashes`), the dataset root, the versions of sanitize, Pillow, numpy and simplejpeg,
  and FILE_FIELDS of the configuration (allow_mismatch, formats, max_pixels, max_file_bytes, task,
  palette);
  for segmentation also MASK_FIELDS (num_classes, ignore_label, normalization), because the
  mask checks judge the mask's pixels. Reused while all of these are unchanged.
- label results of classification (label findings, class index): the label text, num_classes
  and ignore_label. Never stored: re-evaluated from the label text on every audit, which opens
  no file, so with the probe off a change of num_classes or ignore_label re-checks no file.
- probe results (probe findings, magnitude, loss): the pixels, so everything file results
  depend on, plus the label text and PROBE_FIELDS (num_classes, ignore_label, probe_scale,
  probe_mean, probe_grid, probe_seed, normalization). A change to any of these re-checks the
  sample, because the probe needs its pixels (its file results are recomputed on the way).
  With the probe off, stored probe results are ignored but kept, for a later audit with the
  same probe settings.
- dataset-wide findings (scale outliers, rare mask values): recomputed on every audit.

The store survives kill -9 at any moment: results are committed batch by batch (WAL mode), and
the baseline the diff is taken against moves, in one transaction, only when an audit completes,
so the next audit reuses what the interrupted one committed and still reports every change
since the last completed audit. One audit per store at a time (an flock on DB.lock).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from sanitize import pipeline
from sanitize.api import OnProgress, locate, prepare
from sanitize.checks import check_mask_path, check_paths
from sanitize.checks.label import check_label, parse_label
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.errors import SanitizeError
from sanitize.report import CleanSamples, Collector, Report, atomic_write_text, versions
from sanitize.types import Finding, ImageInfo, Loaded, Sample, SampleResult

SCHEMA_VERSION = "1"
#: ScanConfig fields the file results depend on.
FILE_FIELDS = ("allow_mismatch", "formats", "max_pixels", "max_file_bytes", "task", "palette")
#: ScanConfig fields the mask checks depend on: part of the file results of segmentation.
MASK_FIELDS = ("num_classes", "ignore_label", "normalization")
#: ScanConfig fields the probe results depend on (besides the pixels and the label text).
PROBE_FIELDS = (
    "num_classes",
    "ignore_label",
    "probe",
    "probe_scale",
    "probe_mean",
    "probe_grid",
    "probe_seed",
    "normalization",
)
#: Libraries whose version changes what a file check concludes.
DECODER_PACKAGES = ("sanitize", "pillow", "numpy", "simplejpeg")
#: Findings of a check that failed instead of judging the file (pipeline.crashed_result, check_batch's
#: internal error): often a one-off, so their row gets no file fingerprint and every audit checks again.
UNSETTLED = {("decode", "crashed"), ("internal", "check_failed")}
#: Stored results reused per Collector.add or add_clean call.
REUSE_CHUNK = 4096

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    key TEXT PRIMARY KEY,          -- the sample's path; a repeated path gets NUL + occurrence
    stamp TEXT NOT NULL,           -- size:mtime_ns of the file (|size:mtime_ns of its mask) when checked
    hash TEXT,                     -- blake2b of the file (|of its mask), '-' for one never read
    file_fp TEXT NOT NULL, probe_fp TEXT, label TEXT,
    findings TEXT, info TEXT NOT NULL, mask_result TEXT, magnitude REAL, loss REAL,
    -- as of the last completed audit (base_error NULL: not in it); the diff's reference
    base_stamp TEXT, base_hash TEXT, base_error INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL, config TEXT NOT NULL,
    listed INTEGER, checked INTEGER, reused INTEGER, with_errors INTEGER, with_warnings INTEGER,
    added INTEGER, removed INTEGER, newly_failing INTEGER, fixed INTEGER, changed INTEGER, elapsed REAL
);
"""
#: One stored result, with the fingerprint comparisons done by SQLite (1, 0, or NULL when there is none).
_ROW = "key, stamp, hash, file_fp = ?, probe_fp = ?, label, findings, info, mask_result, magnitude, loss, base_error"
#: The content changed since the last completed audit: by hash when both are known, else by size or mtime_ns.
_CHANGED = (
    "CASE WHEN hash IS NOT NULL AND base_hash IS NOT NULL THEN hash IS NOT base_hash ELSE stamp IS NOT base_stamp END"
)
_UPSERT = (
    "INSERT INTO samples (key, stamp, hash, file_fp, probe_fp, label, findings, info, mask_result, magnitude, loss)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET stamp=excluded.stamp,"
    " hash=excluded.hash, file_fp=excluded.file_fp, probe_fp=excluded.probe_fp, label=excluded.label,"
    " findings=excluded.findings, info=excluded.info, mask_result=excluded.mask_result,"
    " magnitude=excluded.magnitude, loss=excluded.loss"
)

#: A file's (size, mtime_ns); both None when it cannot be stat'ed.
Stat = tuple[int | None, int | None]


class _Identity(NamedTuple):
    """A sample's files as this audit found them, before any check read them."""

    stamp: str
    hash: str | None
    image: Stat
    mask: Stat | None


class FailOn(str, Enum):
    """When an audit exits 1: new errors since the last audit, or any error."""

    NEW = "new"
    ANY = "any"


@dataclass(frozen=True)
class Fingerprints:
    """What stored file and probe results must have been checked under to be reused."""

    file: str
    probe: str | None  # None when the probe is off: stored probe results are not used

    @classmethod
    def of(cls, config: ScanConfig, real_root: Path) -> Fingerprints:
        found = versions()
        libraries = {name: found[name] for name in DECODER_PACKAGES}
        fields = FILE_FIELDS + (MASK_FIELDS if config.task == "segmentation" else ())
        file = config.fingerprint(fields, root=str(real_root), versions=libraries)
        return cls(file, config.fingerprint(PROBE_FIELDS, file=file) if config.probe else None)


@dataclass
class AuditDiff:
    """What changed since the previous completed audit (everything is added on the first)."""

    previous_run: int | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    newly_failing: list[SampleResult] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "newly_failing": len(self.newly_failing),
            "fixed": len(self.fixed),
            "changed": len(self.changed),
        }

    def to_dict(self) -> dict[str, Any]:
        """diff.json: newly failing samples carry their findings.jsonl record."""
        return {
            "previous_run": self.previous_run,
            "counts": self.counts(),
            "added": self.added,
            "removed": self.removed,
            "newly_failing": [result.to_record() for result in self.newly_failing],
            "fixed": self.fixed,
            "changed": self.changed,
        }

    def render(self) -> str:
        since = f"since audit #{self.previous_run}" if self.previous_run else "(first audit: every sample is new)"
        counts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in self.counts().items())
        lines = [f"changes {since}: {counts}"]
        for result in self.newly_failing[:20]:
            codes = ", ".join(dict.fromkeys(f"{f.check}:{f.code}" for f in result.findings if f.is_error))
            lines.append(f"  newly failing: {result.path}  {codes}")
        if len(self.newly_failing) > 20:
            lines.append(f"  ... {len(self.newly_failing) - 20} more in diff.json")
        return "\n".join(lines)


@dataclass
class AuditReport:
    """A scan's Report of the whole dataset, plus the diff and how much was reused."""

    report: Report
    diff: AuditDiff
    run_id: int
    checked: int
    reused: int

    def exit_code(self, fail_on: FailOn | str = FailOn.NEW) -> int:
        """1 when there are errors new since the last audit (or, with "any", any error), else 0."""
        if FailOn(fail_on) is FailOn.ANY:
            return self.report.exit_code()
        return 1 if self.diff.newly_failing else 0

    def write(self, out: Path) -> None:
        """The scan's report files plus diff.json, each written atomically."""
        self.report.write(out)
        atomic_write_text(out / "diff.json", json.dumps(self.diff.to_dict(), indent=2, ensure_ascii=False) + "\n")

    def render(self, fail_on: FailOn | str = FailOn.NEW) -> str:
        """The scan's table, what was reused, the diff, then the verdict under `fail_on`."""
        fail_on = FailOn(fail_on)
        verdict = "FAIL" if self.exit_code(fail_on) else "PASS"
        reason = "new errors since the last audit" if fail_on is FailOn.NEW else "samples with errors"
        count = len(self.diff.newly_failing) if fail_on is FailOn.NEW else self.report.error_count
        return (
            f"{self.report.render()}\n"
            f"audit #{self.run_id}: {self.checked:,} samples checked, {self.reused:,} reused from the store\n"
            f"{self.diff.render()}\n"
            f"{verdict} (--fail-on {fail_on.value}): {count:,} {reason}"
        )


@dataclass(frozen=True)
class RunRecord:
    """One past audit, as `sanitize audit history` lists it."""

    id: int
    started: str
    finished: str | None
    status: str
    listed: int | None
    checked: int | None
    reused: int | None
    with_errors: int | None
    with_warnings: int | None
    added: int | None
    removed: int | None
    newly_failing: int | None
    fixed: int | None
    changed: int | None
    elapsed: float | None

    def render(self) -> str:
        head = f"#{self.id}  {self.started}  {self.status:<11}"
        if self.status != "complete":
            return head
        return (
            f"{head}  {self.listed:,} samples ({self.checked:,} checked, {self.reused:,} reused),"
            f" {self.with_errors:,} with errors, {self.with_warnings:,} with warnings;"
            f" +{self.added:,} -{self.removed:,}, {self.newly_failing:,} newly failing, {self.fixed:,} fixed,"
            f" {self.changed:,} changed; {self.elapsed:.1f} s"
        )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _connect(db: Path, *, read_only: bool = False) -> sqlite3.Connection:
    try:
        if read_only:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        else:
            conn = sqlite3.connect(db, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: consistent after any crash
            with conn:
                conn.executescript(_SCHEMA)
        schema = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise SanitizeError(f"{db} is not a usable audit store: {exc}") from None
    if schema is None and not read_only:
        with conn:
            conn.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    elif schema is None or schema[0] != SCHEMA_VERSION:
        conn.close()
        raise SanitizeError(f"{db} is not an audit store of schema {SCHEMA_VERSION}")
    return conn


@contextmanager
def _exclusive(db: Path) -> Iterator[None]:
    """Hold DB.lock for the whole audit; a second audit on the same store fails at once.

    An flock dies with its process, so a killed audit never leaves a stale lock behind.
    """
    import fcntl  # POSIX only; imported here so that `import sanitize` still works elsewhere

    lock_path = db.with_name(db.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SanitizeError(f"cannot open the audit store's lock {lock_path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise SanitizeError(f"another audit (pid {holder}) is using {db}; run again when it has finished") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _stat(path: str) -> Stat:
    try:
        status = os.stat(path)
    except OSError:
        return None, None
    return status.st_size, status.st_mtime_ns


def _file_hash(path: str) -> str:
    """blake2b of the file's bytes, or '-' if it cannot be read."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return "-"
    return digest.hexdigest()


def _content_hash(sample: Sample, real_root: Path) -> str:
    """The hashes of a sample's file and mask; '-' for one the paths check would not let be opened."""
    image = "-" if check_paths(sample, real_root) else _file_hash(sample.file)
    if sample.mask_file is None:
        return image
    return f"{image}|{'-' if check_mask_path(sample, real_root) else _file_hash(sample.mask_file)}"


def _hashes(samples: list[Sample], real_root: Path) -> dict[int, str]:
    """Every sample's content hash, read by a few threads (hashing and reading release the GIL)."""
    with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
        found = pool.map(lambda sample: _content_hash(sample, real_root), samples)
        return dict(zip((s.index for s in samples), found, strict=True))


def _identity(sample: Sample, content_hash: str | None) -> _Identity:
    image = _stat(sample.file)
    if sample.mask_file is None:
        return _Identity(f"{image[0]}:{image[1]}", content_hash, image, None)
    mask = _stat(sample.mask_file)
    return _Identity(f"{image[0]}:{image[1]}|{mask[0]}:{mask[1]}", content_hash, image, mask)


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
    }
    return json.dumps(mask)


def _keys(samples: list[Sample]) -> list[str]:
    """The store key of each sample: its path, plus NUL and an occurrence number when repeated."""
    keys = [sample.path for sample in samples]
    if len(set(keys)) == len(keys):  # the common case, at a fraction of the cost of the loop below
        return keys
    seen: dict[str, int] = {}
    keys = []
    for sample in samples:
        count = seen.get(sample.path, 0)
        seen[sample.path] = count + 1
        keys.append(sample.path if count == 0 else f"{sample.path}\0{count}")
    return keys


def _with_stat(data: dict[str, Any], stat: Stat | None) -> ImageInfo:
    size, mtime_ns = stat or (None, None)
    return ImageInfo(**{"size": size, "mtime_ns": mtime_ns, **data})


class _StoredResults:
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

    def clean(self, found: list[tuple[Sample, tuple, Stat]]) -> CleanSamples:
        """(sample, row, stat of its file) of reused results without findings, as columns."""
        probe = self.config.probe
        labels = Counter(sample.label for sample, _, _ in found)
        formats: Counter[tuple[str | None, str | None]] = Counter()
        for text, count in Counter(row[7] for _, row, _ in found).items():
            info = self.info(text)
            formats[info["format"], info["decoder"]] += count
        return CleanSamples(
            indices=[sample.index for sample, _, _ in found],
            magnitudes=[row[9] if probe else None for _, row, _ in found],
            losses=[row[10] if probe else None for _, row, _ in found],
            file_stats=np.array([stat for _, _, stat in found], dtype=np.int64).reshape(-1, 2),
            labels=Counter({(label, self.labels[label][0]): count for label, count in labels.items()}),
            formats=formats,
        )

    def result(self, sample: Sample, row: tuple, identity: _Identity) -> SampleResult:
        label_index, label_findings = self.label(sample)
        info = self.info(row[7])
        stored = [Finding.from_dict(d) for d in json.loads(row[6])] if row[6] else []
        findings = [f for f in stored if f.check not in ("label", "probe")] + label_findings
        magnitude = loss = None
        if self.config.probe:
            findings.extend(f for f in stored if f.check == "probe")
            magnitude, loss = row[9], row[10]
        result = SampleResult(
            sample.index, sample.path, sample.label, findings, _with_stat(info, identity.image), label_index
        )
        result.magnitude, result.loss, result.mask = magnitude, loss, sample.mask
        if row[8]:
            mask = json.loads(row[8])
            result.mask_info = _with_stat(mask["info"], identity.mask) if mask["info"] is not None else None
            if mask["values"] is not None:
                result.mask_values = {int(value): count for value, count in mask["values"].items()}
            result.mask_regions = tuple(mask["regions"])
        return result


def _row(result: SampleResult, key: str, identity: _Identity, fingerprints: Fingerprints) -> tuple:
    """A freshly checked sample's row for _UPSERT; an UNSETTLED result's file fingerprint is '' (never reused)."""
    findings = json.dumps([f.to_dict() for f in result.findings]) if result.findings else None
    info = json.dumps(_info_json(result.info, identity.image))
    settled = not any((f.check, f.code) in UNSETTLED for f in result.findings)
    file_fp = fingerprints.file if settled else ""
    head = (key, identity.stamp, identity.hash, file_fp, fingerprints.probe, result.label, findings, info)
    return (*head, _mask_json(result, identity.mask), result.magnitude, result.loss)


@dataclass
class _Plan:
    """What the store lets this audit reuse, and what the last completed audit said of each sample."""

    to_check: list[Sample]
    identities: dict[int, _Identity]  # the files as they were before checking, per sample to check
    base_error: np.ndarray  # per sample: -1 not in the last completed audit, 0 clean, 1 errors
    gone: list[str]  # store keys no longer in the dataset
    removed: list[str]  # their paths, for those in the last completed audit
    reused: int = 0


def _plan(
    conn: sqlite3.Connection,
    samples: list[Sample],
    index_of: dict[str, int],
    config: ScanConfig,
    fingerprints: Fingerprints,
    hashes: dict[int, str] | None,
    on_reused: Callable[[list[SampleResult]], None],
    on_clean: Callable[[CleanSamples], None],
) -> _Plan:
    """One pass over the store. Stored results that still hold are reused, in chunks: those
    without findings (or a mask) go to `on_clean` as columns, the common case made cheap
    (building a SampleResult per clean sample cost more than its stat), the rest to `on_reused`."""
    base_error = array("b", [-1]) * len(samples)
    matched = bytearray(len(samples))
    plan = _Plan([], {}, np.empty(0), [], [])
    chunk: list[SampleResult] = []
    clean: list[tuple[Sample, tuple, Stat]] = []
    stored = _StoredResults(config)
    verify = hashes is not None
    hashes = hashes or {}
    for row in conn.execute(f"SELECT {_ROW} FROM samples", (fingerprints.file, fingerprints.probe)):
        index = index_of.get(row[0])
        if index is None:
            plan.gone.append(row[0])
            if row[11] is not None:
                plan.removed.append(row[0].split("\0", 1)[0])
            continue
        sample = samples[index]
        matched[index] = 1
        if row[11] is not None:
            base_error[index] = row[11]
        identity = _identity(sample, hashes.get(index))
        file_ok = row[3] and row[1] == identity.stamp and (not verify or row[2] == identity.hash)
        probe_ok = fingerprints.probe is None or (row[4] and row[5] == sample.label)
        if not (file_ok and probe_ok):
            if file_ok and not verify:  # unchanged by its stamp: its stored hash still stands
                identity = identity._replace(hash=row[2])
            plan.to_check.append(sample)
            plan.identities[index] = identity
        elif row[6] is None and row[8] is None and identity.image[0] is not None and not stored.label(sample)[1]:
            clean.append((sample, row, identity.image))
            if len(clean) >= REUSE_CHUNK:
                on_clean(stored.clean(clean))
                clean = []
        else:
            chunk.append(stored.result(sample, row, identity))
            if len(chunk) >= REUSE_CHUNK:
                on_reused(chunk)
                chunk = []
    if clean:
        on_clean(stored.clean(clean))
    if chunk:
        on_reused(chunk)
    for index in (i for i, seen in enumerate(matched) if not seen):
        plan.to_check.append(samples[index])
        plan.identities[index] = _identity(samples[index], hashes.get(index))
    plan.to_check.sort(key=lambda s: s.index)
    plan.reused = len(samples) - len(plan.to_check)
    plan.base_error = np.frombuffer(base_error, dtype=np.int8)
    return plan


def _changed(conn: sqlite3.Connection, index_of: dict[str, int], n: int) -> np.ndarray:
    """Per sample: did its content change since the last completed audit (once every result is stored)?"""
    changed = np.zeros(n, dtype=bool)
    for (key,) in conn.execute(f"SELECT key FROM samples WHERE base_error IS NOT NULL AND ({_CHANGED})"):
        if key in index_of:
            changed[index_of[key]] = True
    return changed


def _diff(
    samples: list[Sample], plan: _Plan, changed: np.ndarray, report: Report, previous_run: int | None
) -> tuple[AuditDiff, np.ndarray]:
    """The diff against the last completed audit, and each sample's error state (0/1) now."""
    new_error = np.zeros(len(samples), dtype=np.int8)
    new_error[list(report.error_indices)] = 1
    flagged = {result.index: result for result in report.flagged}
    base = plan.base_error
    paths = [s.path for s in samples]
    return AuditDiff(
        previous_run,
        added=[paths[i] for i in np.flatnonzero(base == -1)],
        removed=plan.removed,
        newly_failing=[flagged[i] for i in np.flatnonzero((new_error == 1) & (base != 1))],
        fixed=[paths[i] for i in np.flatnonzero((base == 1) & (new_error == 0))],
        changed=[paths[i] for i in np.flatnonzero((base == 0) & (new_error == 0) & changed)],
    ), new_error


def audit(
    source: Path | str | None,
    db: Path | str,
    *,
    num_classes: int | None = None,
    root: Path | str | None = None,
    path_column: str = "path",
    label_column: str = "label",
    scheduler: str | None = None,
    workers: int | None = None,
    out: Path | str | None = None,
    exclude: tuple[Path, ...] = (),
    verify_hashes: bool = False,
    on_progress: OnProgress | None = None,
    images: Path | str | None = None,
    masks: Path | str | None = None,
    image_suffix: str = "",
    mask_suffix: str = "",
    palette: Path | str | None = None,
    **options: Any,
) -> AuditReport:
    """Scan a dataset incrementally against the store `db`; return the Report of every sample and
    the diff against the previous completed audit (also written to `out` if given, plus diff.json).

    Arguments are scan()'s. `verify_hashes` reads every file to compare its blake2b hash with the
    stored one, so a rewrite that kept size and mtime_ns is re-checked too. Which stored results are
    reused under which change is in this module's docstring. Raises SanitizeError when another audit
    holds the store, or the store belongs to another dataset.
    """
    started = time.perf_counter()
    db = Path(db)
    inputs = {"images": images, "masks": masks, "image_suffix": image_suffix, "mask_suffix": mask_suffix}
    dataset, config, exclude = prepare(
        source,
        num_classes,
        options,
        out=out,
        exclude=exclude,
        palette=palette,
        root=root,
        path_column=path_column,
        label_column=label_column,
        **inputs,
    )
    real_root = Path(os.path.realpath(dataset.root))
    fingerprints = Fingerprints.of(config, real_root)
    _make_dirs(db.parent, *([Path(out)] if out is not None else []))  # before the run is recorded
    with _exclusive(db), closing(_connect(db)) as conn:
        _claim(conn, db, dataset)
        previous_run, run_id = _begin_run(conn, dataset, config, fingerprints, verify_hashes)
        samples = dataset.samples
        keys = _keys(samples)
        index_of = dict(zip(keys, range(len(keys)), strict=True))
        collector = Collector(dataset, config)

        def progress(results: list[SampleResult]) -> None:
            collector.add(results)
            if on_progress:
                on_progress(collector.scanned, len(samples))

        def reused_clean(clean: CleanSamples) -> None:
            collector.add_clean(clean)
            progress([])

        hashes = _hashes(samples, real_root) if verify_hashes else None
        plan = _plan(conn, samples, index_of, config, fingerprints, hashes, progress, reused_clean)

        def on_results(results: list[SampleResult]) -> None:
            with conn:
                conn.executemany(
                    _UPSERT, (_row(r, keys[r.index], plan.identities[r.index], fingerprints) for r in results)
                )
            progress(results)

        checked_by = None
        if plan.to_check:
            checked_by = pipeline.run(
                plan.to_check, dataset.root, config, on_results, scheduler=scheduler, workers=workers
            )
        runner = {
            "scheduler": scheduler,
            "workers": workers,
            "checked_by": checked_by,
            "audit": {"db": str(db), "run": run_id, "checked": len(plan.to_check), "reused": plan.reused},
        }
        report = collector.finish(time.perf_counter() - started, runner)
        locate(report, dataset, path_column, exclude)
        changed = _changed(conn, index_of, len(samples))
        diff, new_error = _diff(samples, plan, changed, report, previous_run)
        result = AuditReport(report, diff, run_id, len(plan.to_check), plan.reused)
        if out is not None:  # before the baseline moves: a crash here repeats the diff, never loses it
            try:
                result.write(Path(out))
            except OSError as exc:
                raise SanitizeError(f"cannot write the audit report to {out}: {exc}") from None
        moved = np.flatnonzero((plan.base_error != new_error) | changed)
        _complete_run(conn, result, [(int(new_error[i]), keys[i]) for i in moved], plan.gone, started)
    return result


def _make_dirs(*directories: Path) -> None:
    """Create the folders the audit writes to, or SanitizeError, before it does any work."""
    for directory in directories:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SanitizeError(f"cannot create the folder {directory}: {exc.strerror}") from None


def _claim(conn: sqlite3.Connection, db: Path, dataset: Dataset) -> None:
    """A store holds the audits of one dataset; refuse another one rather than diff unrelated data."""
    source = str(Path(dataset.source).resolve())
    row = conn.execute("SELECT value FROM meta WHERE key = 'dataset'").fetchone()
    if row is None:
        with conn:
            conn.execute("INSERT INTO meta VALUES ('dataset', ?)", (source,))
    elif row[0] != source:
        raise SanitizeError(f"{db} holds the audits of {row[0]}, not of {source}; use another --db")


def _begin_run(
    conn: sqlite3.Connection, dataset: Dataset, config: ScanConfig, fingerprints: Fingerprints, verify_hashes: bool
) -> tuple[int | None, int]:
    """(the last completed audit, this audit's id); runs left 'running' were killed (we hold the lock)."""
    settings = {
        "dataset": {"kind": dataset.kind, "source": str(dataset.source), "root": str(dataset.root)},
        "config": config.to_dict(),
        "fingerprints": asdict(fingerprints),
        "verify_hashes": verify_hashes,
    }
    with conn:
        conn.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
        previous = conn.execute("SELECT max(id) FROM runs WHERE status = 'complete'").fetchone()[0]
        cursor = conn.execute(
            "INSERT INTO runs (started, status, config) VALUES (?, 'running', ?)", (_now(), json.dumps(settings))
        )
    return previous, cursor.lastrowid


def _complete_run(
    conn: sqlite3.Connection, result: AuditReport, moved: list[tuple[int, str]], gone: list[str], started: float
) -> None:
    """Move the baseline to this audit ((error state, key) of each sample whose baseline changes),
    drop the samples no longer listed, and record the audit, in one transaction."""
    counts = result.report.summary["samples"]
    with conn:
        conn.executemany(
            "UPDATE samples SET base_stamp = stamp, base_hash = hash, base_error = ? WHERE key = ?",
            moved,
        )
        conn.executemany("DELETE FROM samples WHERE key = ?", ((key,) for key in gone))
        conn.execute(
            "UPDATE runs SET finished = ?, status = 'complete', listed = ?, checked = ?, reused = ?, with_errors = ?,"
            " with_warnings = ?, added = ?, removed = ?, newly_failing = ?, fixed = ?, changed = ?, elapsed = ?"
            " WHERE id = ?",
            (
                _now(),
                counts["listed"],
                result.checked,
                result.reused,
                counts["with_errors"],
                counts["with_warnings"],
                *result.diff.counts().values(),
                round(time.perf_counter() - started, 3),
                result.run_id,
            ),
        )


def history(db: Path | str) -> list[RunRecord]:
    """Every audit recorded in the store, oldest first (read-only; works while an audit runs)."""
    db = Path(db)
    if not db.is_file():
        raise SanitizeError(f"no audit store at {db}")
    with closing(_connect(db, read_only=True)) as conn:
        try:
            rows = conn.execute(
                "SELECT id, started, finished, status, listed, checked, reused, with_errors, with_warnings,"
                " added, removed, newly_failing, fixed, changed, elapsed FROM runs ORDER BY id"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise SanitizeError(f"{db} is not a usable audit store: {exc}") from None
    return [RunRecord(*row) for row in rows]
