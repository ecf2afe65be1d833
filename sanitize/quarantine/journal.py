"""QDIR/journal.jsonl, the record that makes a killed run safe to resume, and the manifest it yields.

Each move's intent is written (and fsync'd) before the move is made, and its outcome after; a
line is parsed and checked before it is believed, so a journal edited by hand or damaged is a
one-line error rather than a move to a wrong place. Folding the journal gives what QDIR holds,
written to QDIR/manifest.jsonl, and the moves a killed run left in flight, which `Journal.settle`
finishes or rolls back by looking at the files themselves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sanitize.errors import SanitizeError
from sanitize.quarantine.moves import JOURNAL, MANIFEST, MANIFEST_TEMPORARY, inside, safe_relpath
from sanitize.quarantine.outcomes import MISSING, MOVED, RESTORED, ROLLED_BACK, FileOutcome, Skip
from sanitize.storage import atomic_write_text, fsync_dir, json_text, partial_name, sha256_of

#: The two kinds of move a journal records.
QUARANTINE, RESTORE = "quarantine", "restore"


class Journal:
    """QDIR/journal.jsonl: each move's intent (fsync'd before the move), then its outcome.

    Folding it gives what QDIR holds (`present`, keyed by relative path) and the moves in flight
    when a run was killed (`pending`). A line torn by a kill is dropped: the move it announced
    had not started, or the outcome it recorded is found again from the files. For the same
    reason only intents are fsync'd one by one (outcomes are flushed with the next intent and at
    the end): an outcome lost to a power cut is found again by looking at the files.
    """

    def __init__(self, qdir: Path) -> None:
        self.qdir = qdir
        self.path = qdir / JOURNAL
        self.present: dict[str, dict[str, Any]] = {}
        self.pending: dict[int, dict[str, Any]] = {}
        self.next_id = 0
        self._fd: int | None = None
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            text = b""
        except OSError as exc:  # an unreadable journal or QDIR: nothing can be known of what it holds
            raise SanitizeError(f"cannot read the quarantine journal {self.path}: {exc.strerror}") from None
        self._valid_length = text.rfind(b"\n") + 1  # a last line without its newline was cut off by a kill
        for number, raw in enumerate(text[: self._valid_length].splitlines(), 1):
            try:
                self._apply(_parse_line(raw))
            except ValueError as exc:
                raise SanitizeError(f"{self.path} line {number} is not a quarantine journal line: {exc}") from None

    def _apply(self, line: dict[str, Any]) -> None:
        self.next_id = max(self.next_id, line["id"] + 1)
        if "op" in line:
            self.pending[line["id"]] = line
            return
        intent = self.pending.pop(line["id"], None)
        if intent is None:
            raise ValueError(f"the outcome of move {line['id']}, which no earlier line announces")
        if line.get("done"):
            record = intent["record"]
            if intent["op"] == QUARANTINE:
                self.present[record["quarantined"]] = record
            else:
                self.present.pop(record["quarantined"], None)

    @property
    def roots(self) -> set[str]:
        return {r["root"] for r in (*self.present.values(), *(p["record"] for p in self.pending.values()))}

    def _write(self, line: dict[str, Any], durable: bool = False) -> None:
        """Append a line, or SanitizeError (a full disk, a read-only journal). Nothing is lost then:
        an intent that was not written announced a move not yet made; a move whose outcome was not
        written stays in flight, for the next run to settle; a line cut short is dropped as a kill's."""
        try:
            if self._fd is None:
                self.qdir.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.ftruncate(self._fd, self._valid_length)  # drop a line torn by a kill
                fsync_dir(self.qdir)
            data = (json_text(line) + "\n").encode()
            while data:  # a write cut short (a disk filling up) goes on, until it fails outright
                data = data[os.write(self._fd, data) :]
            if durable:
                os.fsync(self._fd)
        except OSError as exc:
            raise self._write_failed(exc) from None
        self._apply(line)

    def _write_failed(self, exc: OSError) -> SanitizeError:
        return SanitizeError(f"cannot write the quarantine journal {self.path}: {exc.strerror}")

    def intend(self, op: str, record: dict[str, Any]) -> int:
        move_id = self.next_id
        self._write({"id": move_id, "op": op, "record": record}, durable=True)
        return move_id

    def finish(self, move_id: int) -> None:
        self._write({"id": move_id, "done": True})

    def abort(self, move_id: int, reason: str) -> None:
        self._write({"id": move_id, "aborted": reason})

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            except OSError as exc:
                raise self._write_failed(exc) from None
            finally:
                os.close(fd)

    def write_manifest(self) -> None:
        """QDIR/manifest.jsonl from the journal; if it cannot be written the journal still holds it all.
        A manifest half-written by a killed run is removed first: it is ours, never a quarantined
        file (the name is reserved), and QDIR is locked, so no live run is writing it."""
        manifest = self.qdir / MANIFEST
        for stale in self.qdir.glob(f".{MANIFEST}.*.tmp"):
            if MANIFEST_TEMPORARY.fullmatch(stale.name):
                with suppress(FileNotFoundError):
                    stale.unlink()
        try:
            atomic_write_text(
                manifest,
                "".join(json_text(r) + "\n" for r in sorted(self.present.values(), key=by_path)),
            )
        except OSError as exc:
            raise SanitizeError(f"cannot write the manifest {manifest}: {exc.strerror}") from None

    def settle(self) -> list[FileOutcome]:
        """Finish or roll back the moves a killed run left in flight, judging by the files themselves."""
        return [self.settle_one(move_id) for move_id in list(self.pending)]

    def settle_one(self, move_id: int) -> FileOutcome:
        """Finish or roll back one move in flight. When its files cannot be looked at (unreadable,
        say) it is a SanitizeError and the move stays in flight in the journal, for a later run
        (quarantine or restore) to settle once the cause is fixed: nothing is guessed."""
        intent = self.pending[move_id]
        record = intent["record"]
        path = record["original"]
        try:  # a journal edited by hand must not reach outside either
            relpath = safe_relpath(record["quarantined"])
            in_dataset, in_qdir = inside(Path(record["root"]), relpath), inside(self.qdir, relpath)
        except Skip as skip:
            self.abort(move_id, skip.reason)
            return FileOutcome(path, skip.status, skip.reason)
        src, dst = (in_dataset, in_qdir) if intent["op"] == QUARANTINE else (in_qdir, in_dataset)
        try:
            return self._settle_files(move_id, src, dst)
        except OSError as exc:
            raise SanitizeError(
                f"cannot settle the {intent['op']} of {path} left under way ({exc.filename}: {exc.strerror});"
                f" it stays in {self.path} until a quarantine or restore of this folder can settle it"
            ) from None

    def _settle_files(self, move_id: int, src: Path, dst: Path) -> FileOutcome:
        intent = self.pending[move_id]
        record = intent["record"]
        path = record["original"]
        done = MOVED if intent["op"] == QUARANTINE else RESTORED
        partial_name(dst).unlink(missing_ok=True)  # an unfinished copy; the source is intact
        if dst.exists() and sha256_of(dst) == record["sha256"]:
            if src.exists() and sha256_of(src) == record["sha256"]:
                try:
                    src.unlink()  # the verified copy was placed; only removing the source was left
                except OSError as exc:  # a read-only source folder: undo the copy, both are verified
                    dst.unlink()
                    reason = f"rolled back: cannot remove {src}: {exc.strerror}"
                    self.abort(move_id, reason)
                    return FileOutcome(path, ROLLED_BACK, reason)
            self.finish(move_id)
            return FileOutcome(path, done, f"interrupted {intent['op']} finished", record["size"])
        if src.exists():
            self.abort(move_id, "rolled back: the move had not happened")
            return FileOutcome(path, ROLLED_BACK, f"interrupted {intent['op']} rolled back")
        reason = f"interrupted {intent['op']}: neither {src} nor a matching {dst} exists"
        self.abort(move_id, reason)
        return FileOutcome(path, MISSING, reason)


#: What a move's record must hold, and of which type: restore and recovery rely on each.
_RECORD_FIELDS = {"original": str, "quarantined": str, "root": str, "sha256": str, "size": int}


def _parse_line(raw: bytes) -> dict[str, Any]:
    """One journal line parsed, or ValueError when it is not one this module writes."""
    line = json.loads(raw)
    if not isinstance(line, dict) or type(line.get("id")) is not int:
        raise ValueError("no integer id")
    if "op" in line:
        record = line.get("record")
        if line["op"] not in (QUARANTINE, RESTORE) or not isinstance(record, dict):
            raise ValueError("a move without a known op and its record")
        wrong = [name for name, kind in _RECORD_FIELDS.items() if not isinstance(record.get(name), kind)]
        if wrong:
            raise ValueError(f"a move record without a valid {', '.join(wrong)}")
    return line


def by_path(record: dict[str, Any]) -> str:
    """Sort key of a move record: its path inside QDIR."""
    return record["quarantined"]


@contextmanager
def open_journal(qdir: Path) -> Iterator[Journal]:
    """QDIR's journal, closed (and its last outcomes fsync'd) however the run ends."""
    journal = Journal(qdir)
    try:
        yield journal
    finally:
        journal.close()
