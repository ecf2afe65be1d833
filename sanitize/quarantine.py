"""Quarantine: move the samples a scan flagged out of the dataset, and put them back, losing no byte.

Every move is first written to QDIR/journal.jsonl (fsync'd) and only then made, and its outcome is
written after; so a run killed at any moment leaves at most one move in flight, which the next
quarantine or restore on that QDIR finishes or rolls back before doing anything else. On one
filesystem a move is a single `os.replace`; across filesystems the file is copied, fsync'd and
verified by sha256 before the original is removed. The dataset root and QDIR are locked (flock on
the directories themselves, so no lock file is left behind) for the whole run: a second run on the
same data fails at once instead of interleaving. QDIR/manifest.jsonl lists what QDIR holds.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import pkgutil
import shutil
import stat
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from sanitize import checks
from sanitize.datasets import read_text
from sanitize.datasets.listfile import parse_line
from sanitize.errors import SanitizeError
from sanitize.report import atomic_write_text

JOURNAL = "journal.jsonl"
MANIFEST = "manifest.jsonl"
#: Suffix of a cross-filesystem copy in progress, next to its destination.
PARTIAL = ".sanitize-partial"
#: Names QDIR keeps for itself at its top level (the manifest's temporary file included).
RESERVED = {JOURNAL, MANIFEST, f".{MANIFEST}.tmp"}

QUARANTINE, RESTORE = "quarantine", "restore"

# What happened to one file. The first three are success; every other status makes the exit code 1.
MOVED = "moved"
RESTORED = "restored"
ALREADY = "already in QDIR"
STALE = "changed since the scan"
UNVERIFIED = "unverified"
REFUSED = "refused"
MISSING = "missing"
CONFLICT = "conflict"
CHANGED = "quarantined copy changed"
ROLLED_BACK = "rolled back"
SUCCESS = {MOVED, RESTORED, ALREADY, ROLLED_BACK}


class _Skip(Exception):
    """This file is not moved; the outcome says why."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class FileOutcome:
    """What a run did (or, in a dry run, would do) with one file."""

    path: str
    status: str
    reason: str = ""
    size: int = 0


@dataclass
class MoveResult:
    """What a quarantine or restore run did: one outcome per file it looked at."""

    qdir: Path
    dry_run: bool
    outcomes: list[FileOutcome] = field(default_factory=list)
    #: Moves an interrupted earlier run left in flight, settled before this run started.
    recovered: list[FileOutcome] = field(default_factory=list)

    def with_status(self, *statuses: str) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status in statuses]

    @property
    def problems(self) -> list[FileOutcome]:
        return [o for o in self.outcomes + self.recovered if o.status not in SUCCESS]

    @property
    def exit_code(self) -> int:
        """0 when every file selected ended up where it was asked to go, else 1."""
        return 1 if self.problems else 0

    def _render(self, done: str, verb: str, where: str) -> list[str]:
        lines = [f"{o.path}: {o.reason or o.status}" for o in self.recovered]
        done_files = self.with_status(done)
        if self.dry_run:
            lines += [f"would {verb} {o.path} ({o.size:,} bytes)" for o in done_files]
        moved_bytes = sum(o.size for o in done_files)
        prefix = "would have " if self.dry_run else ""
        lines.append(f"{prefix}{done} {len(done_files)} files ({moved_bytes:,} bytes) {where}")
        already = self.with_status(ALREADY)
        if already:
            lines.append(f"{len(already)} already in {self.qdir}")
        problems = [o for o in self.outcomes if o.status not in SUCCESS]
        if problems:
            lines.append(f"{len(problems)} not {done}:")
            lines += [f"  {o.path}: {o.status}: {o.reason}" for o in problems]
        return lines


@dataclass
class QuarantineResult(MoveResult):
    cleaned_list: Path | None = None
    backup: Path | None = None

    def render(self) -> str:
        lines = self._render(MOVED, "move", f"to {self.qdir}")
        if self.backup:
            lines.append(f"list rewritten in place: {self.cleaned_list} (backup: {self.backup})")
        elif self.cleaned_list:
            lines.append(f"cleaned list: {self.cleaned_list}")
        return "\n".join(lines)


@dataclass
class RestoreResult(MoveResult):
    root: Path | None = None

    def render(self) -> str:
        where = f"to {self.root}" if self.root else f"(nothing left in {self.qdir} to restore)"
        return "\n".join(self._render(RESTORED, "restore", where))


# --- files -------------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_of_source(path: Path) -> str:
    """sha256_of, or _Skip when the file vanished or cannot be read since it was selected."""
    try:
        return sha256_of(path)
    except FileNotFoundError:
        raise _Skip(MISSING, f"{path} vanished before it was moved") from None
    except OSError as exc:
        raise _Skip(REFUSED, f"cannot read {path}: {exc.strerror}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _partial(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}{PARTIAL}")


def _copy_verified(src: Path, dst: Path, sha256: str) -> None:
    """Copy with mode and mtime, fsync, re-read the copy from disk and check its sha256, then place it."""
    partial = _partial(dst)
    digest = hashlib.sha256()
    with open(src, "rb") as source, open(partial, "wb") as copy:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            copy.write(chunk)
        copy.flush()
        shutil.copystat(src, partial)
        os.fsync(copy.fileno())
        os.posix_fadvise(copy.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # the check below reads the disk
    if digest.hexdigest() != sha256 or sha256_of(partial) != sha256:
        partial.unlink()
        raise _Skip(STALE, "its bytes changed while it was being moved; nothing moved")
    os.replace(partial, dst)
    _fsync_dir(dst.parent)
    src.unlink()


def _move(src: Path, dst: Path, sha256: str) -> None:
    """Move one file that the journal already records: os.replace, or a verified copy across filesystems."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _copy_verified(src, dst, sha256)


def _safe_relpath(path: str) -> str:
    """The entry as a normalised relative path, or _Skip if it could reach outside its root."""
    if PurePosixPath(path).is_absolute() or Path(path).is_absolute():
        raise _Skip(REFUSED, "absolute path; only paths inside the dataset root are moved")
    relpath = os.path.normpath(path).replace(os.sep, "/")
    if relpath == "." or ".." in PurePosixPath(relpath).parts:
        raise _Skip(REFUSED, "escapes the dataset root ('..'); never touched")
    if relpath in RESERVED or relpath.endswith(PARTIAL):
        raise _Skip(REFUSED, "its name is reserved by the quarantine folder")
    return relpath


def _inside(real_dir: Path, relpath: str) -> Path:
    """real_dir/relpath, or _Skip if any part of it is a symlink (it could lead anywhere)."""
    full = real_dir / relpath
    if os.path.realpath(full) != str(full):
        raise _Skip(REFUSED, "a symlink (or under one); never moved")
    return full


def _regular_file(path: Path) -> os.stat_result:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise _Skip(MISSING, f"no file at {path}") from None
    except OSError as exc:
        raise _Skip(REFUSED, f"cannot stat {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _Skip(REFUSED, f"{path} is not a regular file")
    return info


# --- journal -----------------------------------------------------------------------------------


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
        text = self.path.read_bytes() if self.path.exists() else b""
        self._valid_length = text.rfind(b"\n") + 1  # a last line without its newline was cut off by a kill
        for number, raw in enumerate(text[: self._valid_length].splitlines(), 1):
            try:
                self._apply(_journal_line(raw))
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
        if self._fd is None:
            self.qdir.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.ftruncate(self._fd, self._valid_length)  # drop a line torn by a kill
            _fsync_dir(self.qdir)
        os.write(self._fd, (json.dumps(line, ensure_ascii=False) + "\n").encode())
        if durable:
            os.fsync(self._fd)
        self._apply(line)

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
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def write_manifest(self) -> None:
        atomic_write_text(
            self.qdir / MANIFEST,
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sorted(self.present.values(), key=_by_path)),
        )

    def settle(self) -> list[FileOutcome]:
        """Finish or roll back the moves a killed run left in flight, judging by the files themselves."""
        return [self.settle_one(move_id) for move_id in list(self.pending)]

    def settle_one(self, move_id: int) -> FileOutcome:
        intent = self.pending[move_id]
        record = intent["record"]
        path = record["original"]
        try:  # a journal edited by hand must not reach outside either
            relpath = _safe_relpath(record["quarantined"])
            in_dataset, in_qdir = _inside(Path(record["root"]), relpath), _inside(self.qdir, relpath)
        except _Skip as skip:
            self.abort(move_id, skip.reason)
            return FileOutcome(path, skip.status, skip.reason)
        src, dst = (in_dataset, in_qdir) if intent["op"] == QUARANTINE else (in_qdir, in_dataset)
        done = MOVED if intent["op"] == QUARANTINE else RESTORED
        _partial(dst).unlink(missing_ok=True)  # an unfinished copy; the source is intact
        if dst.exists() and sha256_of(dst) == record["sha256"]:
            if src.exists() and sha256_of(src) == record["sha256"]:
                src.unlink()  # the verified copy was placed; only removing the source was left
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


def _journal_line(raw: bytes) -> dict[str, Any]:
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


def _by_path(record: dict[str, Any]) -> str:
    return record["quarantined"]


@contextmanager
def _locked(*directories: Path) -> Iterator[None]:
    """Exclusive flocks on the directories; another run holding one is an error, never a wait."""
    with ExitStack() as stack:
        for directory in directories:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            stack.callback(os.close, fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SanitizeError(
                    f"{directory} is locked by another sanitize quarantine/restore run; try again when it has finished"
                ) from None
        yield


@contextmanager
def _journal(qdir: Path) -> Iterator[Journal]:
    journal = Journal(qdir)
    try:
        yield journal
    finally:
        journal.close()


# --- quarantine --------------------------------------------------------------------------------


@dataclass
class _ReportedDataset:
    """What a report directory says about the dataset it judged."""

    kind: str
    source: Path
    root: Path
    path_column: str
    exclude: list[Path]
    records: list[dict[str, Any]]


def _read_report(report_dir: Path) -> _ReportedDataset:
    try:
        summary = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
        lines = (report_dir / "findings.jsonl").read_text(encoding="utf-8").splitlines()
        records = [_findings_record(line, number) for number, line in enumerate(lines, 1) if line.strip()]
        dataset = summary["dataset"]
        reported = _ReportedDataset(
            kind=dataset["kind"],
            source=Path(dataset.get("real_source") or dataset["source"]),
            root=Path(dataset.get("real_root") or os.path.realpath(dataset["root"])),
            path_column=dataset.get("path_column", "path"),
            exclude=[Path(p) for p in dataset.get("exclude", [])],
            records=records,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SanitizeError(f"{report_dir} is not a readable scan report: {exc!r}") from None
    if not reported.root.is_dir():
        raise SanitizeError(f"the dataset root of this report is not a directory: {reported.root}")
    return reported


def _findings_record(line: str, number: int) -> dict[str, Any]:
    """One findings.jsonl record, checked to hold what quarantine reads of it (ValueError if not)."""
    record = json.loads(line)
    valid = (
        isinstance(record, dict)
        and isinstance(record.get("path"), str)
        and isinstance(record.get("findings"), list)
        and all(
            isinstance(f, dict) and all(isinstance(f.get(key), str) for key in ("check", "code", "severity"))
            for f in record["findings"]
        )
        and isinstance(record.get("mask"), str | None)
        and all(isinstance(record.get(key), dict | None) for key in ("info", "mask_info"))
    )
    if not valid:
        raise ValueError(f"findings.jsonl line {number} is not a findings record (path, findings, info)")
    return record


def _check_qdir(qdir: Path, dataset: _ReportedDataset) -> Path:
    """QDIR resolved; refused inside the dataset root (a re-scan would see it) unless the scan excluded it."""
    real = Path(os.path.realpath(qdir))
    if os.path.exists(real) and not real.is_dir():
        raise SanitizeError(f"the quarantine folder {qdir} exists and is not a folder")
    if dataset.root.is_relative_to(real):
        raise SanitizeError(f"the quarantine folder {qdir} contains the dataset root {dataset.root}")
    excluded = any(real.is_relative_to(ex) for ex in dataset.exclude)
    if real.is_relative_to(dataset.root) and not excluded:
        raise SanitizeError(
            f"the quarantine folder {qdir} is inside the dataset root {dataset.root}, where a re-scan would see it;"
            " choose a folder outside it, or scan with --exclude QDIR"
        )
    return real


def check_names() -> set[str]:
    """The CHECK part a finding's code can have: one per module of sanitize.checks (the mask_* modules
    are all `mask`), plus the findings of decoding, of the probe, and of a check that failed."""
    modules = {module.name.partition("_")[0] for module in pkgutil.iter_modules(checks.__path__)}
    return modules | {"decode", "probe", "internal"}


def parse_only(only: Iterable[str]) -> list[tuple[str, str | None]]:
    """`CHECK` or `CHECK:CODE` selectors; an unknown CHECK (a typo would select nothing) is an error."""
    selectors = []
    known = check_names()
    for text in only:
        check, _, code = text.partition(":")
        if not check or (":" in text and not code):
            raise SanitizeError(f"--only takes CHECK or CHECK:CODE (e.g. decode or decode:truncated), got {text!r}")
        if check not in known:
            raise SanitizeError(f"--only {text!r}: no check is called {check!r} (known: {', '.join(sorted(known))})")
        selectors.append((check, code or None))
    return selectors


def _selected_findings(
    record: dict[str, Any], include_warnings: bool, selectors: list[tuple[str, str | None]]
) -> list[dict[str, Any]]:
    """The findings that make this sample move: errors (and warnings if asked), narrowed by --only."""
    return [
        f
        for f in record["findings"]
        if (f["severity"] == "error" or include_warnings)
        and (not selectors or any(f["check"] == c and code in (None, f["code"]) for c, code in selectors))
    ]


def _check_fresh(src: Path, info: dict[str, Any]) -> os.stat_result:
    """The file's stat, or _Skip when it is not the file the scan judged (size or mtime differ)."""
    now = _regular_file(src)
    if info.get("size") is None or info.get("mtime_ns") is None:
        raise _Skip(
            UNVERIFIED,
            "the scan recorded no size and mtime for this file (a dataset-wide finding such as"
            " probe:scale_outlier), so whether it changed since cannot be told; not moved",
        )
    if (now.st_size, now.st_mtime_ns) != (info["size"], info["mtime_ns"]):
        raise _Skip(STALE, "size or mtime differ from the scan's; re-scan, then quarantine")
    return now


def _do_move(journal: Journal, op: str, entry: dict[str, Any], src: Path, dst: Path) -> None:
    """Journal the move, make it, journal its outcome; a failed move is settled like an interrupted one."""
    move_id = journal.intend(op, entry)
    try:
        _move(src, dst, entry["sha256"])
    except _Skip as skip:
        journal.abort(move_id, skip.reason)
        raise
    except OSError as exc:
        if journal.settle_one(move_id).status in SUCCESS - {ROLLED_BACK}:
            return
        raise _Skip(REFUSED, f"cannot move: {exc}") from None
    journal.finish(move_id)


@dataclass
class _Planned:
    """A file of a flagged sample that can move: checked safe, fresh and free in QDIR."""

    name: str
    relpath: str
    src: Path
    dst: Path
    info: dict[str, Any]
    size: int


def _sample_files(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The files that make up the sample, each with what the scan recorded of it: the image, and its mask."""
    files = [(record["path"], record.get("info") or {})]
    if record.get("mask") and os.path.normpath(record["mask"]) != os.path.normpath(record["path"]):
        files.append((record["mask"], record.get("mask_info") or {}))
    return files


def _plan_file(name: str, info: dict[str, Any], root: Path, journal: Journal) -> _Planned | FileOutcome:
    relpath = _safe_relpath(name)
    src = _inside(root, relpath)
    dst = _inside(journal.qdir, relpath)
    held = journal.present.get(relpath)
    if held is not None and not os.path.lexists(src):
        return FileOutcome(name, ALREADY, size=held["size"])
    now = _check_fresh(src, info)
    if os.path.lexists(dst):
        raise _Skip(CONFLICT, f"{dst} already exists in the quarantine folder; nothing moved")
    return _Planned(name, relpath, src, dst, info, now.st_size)


def _quarantine_file(planned: _Planned, findings: list[dict[str, Any]], root: Path, journal: Journal) -> FileOutcome:
    sha256 = _sha256_of_source(planned.src)
    now = _check_fresh(planned.src, planned.info)  # unchanged while it was hashed
    entry = {
        "original": planned.name,
        "quarantined": planned.relpath,
        "root": str(root),
        "size": now.st_size,
        "mtime_ns": now.st_mtime_ns,
        "sha256": sha256,
        "findings": findings,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _do_move(journal, QUARANTINE, entry, planned.src, planned.dst)
    return FileOutcome(planned.name, MOVED, size=now.st_size)


def _quarantine_sample(
    record: dict[str, Any], findings: list[dict[str, Any]], root: Path, journal: Journal, dry_run: bool
) -> list[FileOutcome]:
    """Move a flagged sample's files into QDIR (in a dry run only judge whether they would move).

    An image and its mask move together: when one of them changed since the scan or collides in
    QDIR, neither moves. One that is missing or refused does not hold the other back.
    """
    outcomes: list[FileOutcome] = []
    planned: list[_Planned] = []
    for name, info in _sample_files(record):
        try:
            step = _plan_file(name, info, root, journal)
        except _Skip as skip:
            outcomes.append(FileOutcome(name, skip.status, skip.reason))
            continue
        if isinstance(step, FileOutcome):
            outcomes.append(step)
        else:
            planned.append(step)
    blocker = next((o for o in outcomes if o.status in (STALE, UNVERIFIED, CONFLICT)), None)
    for step in planned:
        try:
            if blocker is not None:
                raise _Skip(blocker.status, f"kept with {blocker.path}, which does not move ({blocker.reason})")
            outcomes.append(
                FileOutcome(step.name, MOVED, size=step.size)
                if dry_run
                else _quarantine_file(step, findings, root, journal)
            )
        except _Skip as skip:
            outcomes.append(FileOutcome(step.name, skip.status, skip.reason))
    return outcomes


def _check_one_root(journal: Journal, root: Path) -> None:
    others = journal.roots - {str(root)}
    if others:
        raise SanitizeError(
            f"{journal.qdir} holds files quarantined from another dataset ({', '.join(sorted(others))});"
            " use one quarantine folder per dataset"
        )


def quarantine(
    report_dir: Path | str,
    to: Path | str,
    *,
    include_warnings: bool = False,
    only: Iterable[str] = (),
    dry_run: bool = False,
    in_place: bool = False,
) -> QuarantineResult:
    """Move every sample the report flagged with an error (and warnings if asked) from the dataset into `to`.

    `only` narrows the move to findings `CHECK` or `CHECK:CODE`. A file that changed since the scan,
    or whose path could reach outside the dataset root, stays where it is and is reported. For a list
    or CSV dataset a cleaned copy of the list is written beside it (`train.clean.txt`), or with
    `in_place` the list itself is rewritten after a backup is kept.
    """
    dataset = _read_report(Path(report_dir))
    selectors = parse_only(only)
    qdir = _check_qdir(Path(to), dataset)
    result = QuarantineResult(Path(to), dry_run)
    with ExitStack() as stack:
        if not dry_run:
            try:
                qdir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SanitizeError(f"cannot create the quarantine folder {to}: {exc.strerror}") from None
            stack.enter_context(_locked(dataset.root, qdir))
        journal = stack.enter_context(_journal(qdir))
        _check_one_root(journal, dataset.root)
        if not dry_run:
            result.recovered = journal.settle()
        seen: set[str] = set()  # a list may name one file twice; it moves once
        for record in dataset.records:
            findings = _selected_findings(record, include_warnings, selectors)
            if not findings or record["path"] in seen:
                continue
            seen.add(record["path"])
            result.outcomes += _quarantine_sample(record, findings, dataset.root, journal, dry_run)
        if not dry_run:
            journal.write_manifest()
            if dataset.kind in ("listfile", "csv"):
                result.cleaned_list, result.backup = _write_cleaned_list(dataset, result.outcomes, in_place)
    return result


# --- cleaned list ------------------------------------------------------------------------------


def _write_cleaned_list(
    dataset: _ReportedDataset, outcomes: list[FileOutcome], in_place: bool
) -> tuple[Path, Path | None]:
    """The list without the lines of the samples selected, except those kept because they may have changed."""
    dropped = {o.path for o in outcomes if o.status not in (STALE, UNVERIFIED)}
    text = read_text(dataset.source)
    if dataset.kind == "csv":
        cleaned = _cleaned_csv(text, dataset.path_column, dropped)
    else:
        cleaned = "".join(line for line in text.splitlines(keepends=True) if not _names(line, dropped))
    if not in_place:
        target = dataset.source.with_name(f"{dataset.source.stem}.clean{dataset.source.suffix}")
        atomic_write_text(target, cleaned)
        return target, None
    backup = _free_name(dataset.source.with_name(dataset.source.name + ".bak"))
    partial = _partial(backup)
    shutil.copy2(dataset.source, partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, backup)
    atomic_write_text(dataset.source, cleaned)
    shutil.copymode(backup, dataset.source)
    return dataset.source, backup


def _names(line: str, paths: set[str]) -> bool:
    entry = line.strip()
    return bool(entry) and not entry.startswith("#") and parse_line(entry)[0] in paths


def _cleaned_csv(text: str, path_column: str, dropped: set[str]) -> str:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    column = rows[0].index(path_column) if rows and path_column in rows[0] else None
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    for number, row in enumerate(rows):
        keep = number == 0 or column is None or column >= len(row) or row[column].strip() not in dropped
        if keep:
            writer.writerow(row)
    return out.getvalue()


def _free_name(path: Path) -> Path:
    """`path`, or `path.1`, `path.2`...: the first that does not exist, so no backup is overwritten."""
    candidate, number = path, 0
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{path.name}.{number}")
    return candidate


# --- restore -----------------------------------------------------------------------------------


def _restore_one(record: dict[str, Any], root: Path, journal: Journal, dry_run: bool) -> FileOutcome:
    relpath = _safe_relpath(record["quarantined"])
    src = _inside(journal.qdir, relpath)
    dst = _inside(root, relpath)
    _regular_file(src)
    if os.path.lexists(dst):
        raise _Skip(CONFLICT, f"{dst} exists now; not overwritten, the quarantined copy stays in QDIR")
    if _sha256_of_source(src) != record["sha256"]:
        raise _Skip(CHANGED, f"{src} no longer has the sha256 the manifest records; left in QDIR")
    if not dry_run:
        _do_move(journal, RESTORE, record, src, dst)
    return FileOutcome(record["original"], RESTORED, size=record["size"])


def restore(qdir: Path | str, *, only: Iterable[str] = (), dry_run: bool = False) -> RestoreResult:
    """Move quarantined files back to where they were, byte-identical (sha256 checked).

    `only` restores just these paths (as the dataset names them). A file that now exists at the
    original path is never overwritten: it is reported and the quarantined copy stays.
    """
    qdir = Path(qdir)
    if not (qdir / JOURNAL).is_file():
        raise SanitizeError(f"{qdir} is not a quarantine folder (no {JOURNAL})")
    real_qdir = Path(os.path.realpath(qdir))
    roots = Journal(real_qdir).roots
    if len(roots) > 1:
        raise SanitizeError(f"{qdir} holds files from several dataset roots: {', '.join(sorted(roots))}")
    result = RestoreResult(qdir, dry_run)
    wanted = set(only)
    matched = _restore_held(result, Path(roots.pop()), real_qdir, wanted, dry_run) if roots else set()
    result.outcomes += [FileOutcome(path, MISSING, "not in the manifest") for path in sorted(wanted - matched)]
    return result


def _restore_held(result: RestoreResult, root: Path, real_qdir: Path, wanted: set[str], dry_run: bool) -> set[str]:
    """Restore what QDIR holds from `root` (only `wanted`, if any) into result; the names it matched."""
    result.root = root
    if not root.is_dir():
        raise SanitizeError(f"the dataset root {root} is not a directory")
    matched: set[str] = set()
    with ExitStack() as stack:
        if not dry_run:
            stack.enter_context(_locked(root, real_qdir))
        journal = stack.enter_context(_journal(real_qdir))
        if not dry_run:
            result.recovered = journal.settle()
        for record in sorted(journal.present.values(), key=_by_path):
            names = {record["original"], record["quarantined"]}
            if wanted and not wanted & names:
                continue
            matched |= names
            try:
                result.outcomes.append(_restore_one(record, root, journal, dry_run))
            except _Skip as skip:
                result.outcomes.append(FileOutcome(record["original"], skip.status, skip.reason))
        if not dry_run:
            journal.write_manifest()
            _remove_empty_dirs(real_qdir)
    return matched


def _remove_empty_dirs(qdir: Path) -> None:
    """Folders restore emptied in QDIR; rmdir only ever removes an empty one."""
    for current, dirs, files in os.walk(qdir, topdown=False):
        if not dirs and not files and Path(current) != qdir:
            with suppress(OSError):
                os.rmdir(current)
