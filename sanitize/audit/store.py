"""The audit store: one SQLite file (WAL mode) holding every sample's last result, the baseline
of the last completed audit, and the record of every audit run.

One audit per store at a time (an flock on DB.lock, which dies with its process, so a killed
audit leaves no stale lock). Rows are read by column name (StoredRow).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.errors import SanitizeError
from sanitize.model import Sample
from sanitize.storage import lock_file

if TYPE_CHECKING:
    from sanitize.audit import AuditReport
    from sanitize.audit.reuse import Fingerprints

SCHEMA_VERSION = "1"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    key TEXT PRIMARY KEY,          -- the sample's path; a repeated path gets NUL + occurrence
    stamp TEXT NOT NULL,           -- size:mtime_ns of the file (|size:mtime_ns of its mask) when checked
    hash TEXT,                     -- blake2b of the file (|of its mask), '-' for one never read
    file_fp TEXT NOT NULL, probe_fp TEXT, label TEXT,
    findings TEXT, info TEXT NOT NULL, mask_result TEXT, magnitude REAL, loss REAL,
    digest INTEGER, phash INTEGER, -- the duplicate checks' hashes (load.fingerprint; 0: none)
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
ROW = (
    "key, stamp, hash, file_fp = ?, probe_fp = ?, label, findings, info, mask_result, magnitude, loss, base_error,"
    " digest, phash"
)


#: The content changed since the last completed audit: by hash when both are known, else by size or mtime_ns.
CHANGED = (
    "CASE WHEN hash IS NOT NULL AND base_hash IS NOT NULL THEN hash IS NOT base_hash ELSE stamp IS NOT base_stamp END"
)


UPSERT = (
    "INSERT INTO samples (key, stamp, hash, file_fp, probe_fp, label, findings, info, mask_result, magnitude, loss,"
    " digest, phash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(key) DO UPDATE SET stamp=excluded.stamp,"
    " hash=excluded.hash, file_fp=excluded.file_fp, probe_fp=excluded.probe_fp, label=excluded.label,"
    " findings=excluded.findings, info=excluded.info, mask_result=excluded.mask_result,"
    " magnitude=excluded.magnitude, loss=excluded.loss, digest=excluded.digest, phash=excluded.phash"
)


def db_text(text: str | None) -> str | bytes | None:
    """A path or label as the store keeps it: text, or, for a name that is not UTF-8 (a str with
    lone surrogates, from os.fsdecode), its bytes, which SQLite keeps as a BLOB in the same column
    (it binds text as strict UTF-8 and would refuse it). A BLOB never equals a text value, so the
    two kinds of key cannot collide; text_of reads either back."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
    return text


def text_of(value: str | bytes | None) -> str | None:
    """What db_text stored, as the str it was made from."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


class StoredRow(NamedTuple):
    """One stored result as ROW selects it; `file_ok` and `probe_ok` are SQLite's comparison of the
    stored fingerprints with this audit's (1, 0, or None when there is none)."""

    key: str
    stamp: str
    hash: str | None
    file_ok: int | None
    probe_ok: int | None
    label: str | None
    findings: str | None
    info: str
    mask_result: str | None
    magnitude: float | None
    loss: float | None
    base_error: int | None
    digest: int | None  # NULL: stored before the duplicate checks (the sample is checked again)
    phash: int | None


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


def connect(db: Path, *, read_only: bool = False) -> sqlite3.Connection:
    try:
        if read_only:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        else:
            conn = sqlite3.connect(db, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: consistent after any crash
            with conn:
                conn.executescript(_SCHEMA)
                _add_hash_columns(conn)
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


def _add_hash_columns(conn: sqlite3.Connection) -> None:
    """Give a store made before the duplicate checks their columns (NULL in its rows)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(samples)")}
    for column in ("digest", "phash"):
        if column not in columns:
            conn.execute(f"ALTER TABLE samples ADD COLUMN {column} INTEGER")


@contextmanager
def store_errors(db: Path) -> Iterator[None]:
    """An SQLite error while an audit uses its store (a full disk, a read-only file or folder) as one
    line naming the store. Nothing is lost by stopping there: the transaction it broke is rolled
    back, the batches committed before it stay, and the baseline has not moved, so the next audit,
    once the cause is fixed, reuses them and still reports every change since the last completed one."""
    try:
        yield
    except sqlite3.Error as exc:
        raise SanitizeError(
            f"cannot update the audit store {db}: {exc}; this audit stopped, the next one goes on from what it stored"
        ) from None


def exclusive(db: Path) -> AbstractContextManager[None]:
    """Hold DB.lock for the whole audit; a second audit on the same store fails at once.

    An flock dies with its process, so a killed audit never leaves a stale lock behind.
    """
    busy = f"another audit (pid {{pid}}) is using {db}; run again when it has finished"
    return lock_file(db.with_name(db.name + ".lock"), busy)


def store_keys(samples: list[Sample]) -> list[str]:
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


def claim(conn: sqlite3.Connection, db: Path, dataset: Dataset) -> None:
    """A store holds the audits of one dataset; refuse another one rather than diff unrelated data."""
    source = str(dataset.source) if dataset.store is not None else str(Path(dataset.source).resolve())
    row = conn.execute("SELECT value FROM meta WHERE key = 'dataset'").fetchone()
    if row is None:
        with conn:
            conn.execute("INSERT INTO meta VALUES ('dataset', ?)", (db_text(source),))  # a folder's name too
    elif (claimed := text_of(row[0])) != source:
        raise SanitizeError(f"{db} holds the audits of {claimed}, not of {source}; use another --db")


def begin_run(
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


def complete_run(
    conn: sqlite3.Connection, result: AuditReport, moved: list[tuple[int, str]], gone: list[str], started: float
) -> None:
    """Move the baseline to this audit ((error state, key) of each sample whose baseline changes),
    drop the samples no longer listed, and record the audit, in one transaction."""
    counts = result.report.summary.samples
    with conn:
        conn.executemany(
            "UPDATE samples SET base_stamp = stamp, base_hash = hash, base_error = ? WHERE key = ?",
            ((error, db_text(key)) for error, key in moved),
        )
        conn.executemany("DELETE FROM samples WHERE key = ?", ((db_text(key),) for key in gone))
        conn.execute(
            "UPDATE runs SET finished = ?, status = 'complete', listed = ?, checked = ?, reused = ?, with_errors = ?,"
            " with_warnings = ?, added = ?, removed = ?, newly_failing = ?, fixed = ?, changed = ?, elapsed = ?"
            " WHERE id = ?",
            (
                _now(),
                counts.listed,
                result.checked,
                result.reused,
                counts.with_errors,
                counts.with_warnings,
                *result.diff.counts().values(),
                round(time.perf_counter() - started, 3),
                result.run_id,
            ),
        )


def changed_since_baseline(conn: sqlite3.Connection, index_of: dict[str, int], n: int) -> np.ndarray:
    """Per sample: did its content change since the last completed audit (once every result is stored)?"""
    changed = np.zeros(n, dtype=bool)
    for (stored,) in conn.execute(f"SELECT key FROM samples WHERE base_error IS NOT NULL AND ({CHANGED})"):
        if (key := text_of(stored)) in index_of:
            changed[index_of[key]] = True
    return changed


def history(db: Path | str) -> list[RunRecord]:
    """Every audit recorded in the store, oldest first (read-only; works while an audit runs)."""
    db = Path(db)
    if not db.is_file():
        raise SanitizeError(f"no audit store at {db}")
    with closing(connect(db, read_only=True)) as conn:
        try:
            rows = conn.execute(
                "SELECT id, started, finished, status, listed, checked, reused, with_errors, with_warnings,"
                " added, removed, newly_failing, fixed, changed, elapsed FROM runs ORDER BY id"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise SanitizeError(f"{db} is not a usable audit store: {exc}") from None
    return [RunRecord(*row) for row in rows]


def read_rows(conn: sqlite3.Connection, file_fp: str, probe_fp: str | None) -> Iterator[StoredRow]:
    """Every stored result, with its fingerprints compared with this audit's."""
    for row in conn.execute(f"SELECT {ROW} FROM samples", (file_fp, probe_fp)):
        if type(row[0]) is bytes or type(row[5]) is bytes:  # a name that is not UTF-8 (db_text)
            row = (text_of(row[0]), *row[1:5], text_of(row[5]), *row[6:])
        yield StoredRow._make(row)
