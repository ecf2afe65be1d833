"""Quarantine: move the samples a scan flagged out of the dataset, and put them back, losing no byte.

Every move is first written to QDIR/journal.jsonl (fsync'd) and only then made, and its outcome is
written after; so a run killed at any moment (kill -9 included) leaves at most one move in flight,
which the next quarantine or restore on that QDIR finishes or rolls back before doing anything else.
On one filesystem a move is a single `os.replace`; across filesystems the file is copied, fsync'd and
verified by sha256 before the original is removed. The dataset root and QDIR are locked (flock on
the directories themselves, so no lock file is left behind) for the whole run: a second run on the
same data fails at once instead of interleaving. QDIR/manifest.jsonl lists what QDIR holds.

This package holds the two runs, `quarantine()` and `restore()`; the parts they are made of are
`journal` (the journal and its recovery), `moves` (which files may move, and moving one), `select`
(the report read back and the findings selected) and `outcomes` (what happened to a file, and the
results of a run). A list or CSV dataset's cleaned list is written by `sanitize.datasets.cleaned`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sanitize.datasets.cleaned import write_cleaned_list
from sanitize.errors import SanitizeError
from sanitize.findings import Finding
from sanitize.quarantine.journal import QUARANTINE, RESTORE, Journal, by_path, open_journal
from sanitize.quarantine.moves import JOURNAL, check_fresh, inside, move_file, regular_file, safe_relpath, source_sha256
from sanitize.quarantine.outcomes import (
    ALREADY,
    CHANGED,
    CONFLICT,
    MISSING,
    MOVED,
    REFUSED,
    RESTORED,
    ROLLED_BACK,
    STALE,
    SUCCESS,
    UNVERIFIED,
    FileOutcome,
    MoveResult,
    QuarantineResult,
    RestoreResult,
    Skip,
)
from sanitize.quarantine.select import ReportedDataset, check_qdir, parse_only, read_report, selected_findings
from sanitize.report.files import FindingsRecord
from sanitize.storage import locked_dirs

__all__ = [
    "ALREADY",
    "CHANGED",
    "CONFLICT",
    "MISSING",
    "MOVED",
    "REFUSED",
    "RESTORED",
    "ROLLED_BACK",
    "STALE",
    "SUCCESS",
    "UNVERIFIED",
    "FileOutcome",
    "MoveResult",
    "QuarantineResult",
    "RestoreResult",
    "quarantine",
    "restore",
]

#: Who holds the flocks on the dataset root and QDIR, as the error for a second run names it.
_LOCK_HOLDER = "sanitize quarantine/restore run"


# --- quarantine --------------------------------------------------------------------------------


def _do_move(journal: Journal, op: str, entry: dict[str, Any], src: Path, dst: Path) -> None:
    """Journal the move, make it, journal its outcome; a failed move is settled like an interrupted one."""
    move_id = journal.intend(op, entry)
    try:
        move_file(src, dst, entry["sha256"])
    except Skip as skip:
        journal.abort(move_id, skip.reason)
        raise
    except OSError as exc:
        if journal.settle_one(move_id).status in SUCCESS - {ROLLED_BACK}:
            return
        raise Skip(REFUSED, f"cannot move: {exc}") from None
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


def _sample_files(record: FindingsRecord) -> list[tuple[str, dict[str, Any]]]:
    """The files that make up the sample, each with what the scan recorded of it: the image, and its mask."""
    files = [(record.path, record.info)]
    if record.mask and os.path.normpath(record.mask) != os.path.normpath(record.path):
        files.append((record.mask, record.mask_info or {}))
    return files


def _plan_file(name: str, info: dict[str, Any], root: Path, journal: Journal) -> _Planned | FileOutcome:
    relpath = safe_relpath(name)
    src = inside(root, relpath)
    dst = inside(journal.qdir, relpath)
    held = journal.present.get(relpath)
    if held is not None and not os.path.lexists(src):
        return FileOutcome(name, ALREADY, size=held["size"])
    now = check_fresh(src, info)
    if os.path.lexists(dst):
        raise Skip(CONFLICT, f"{dst} already exists in the quarantine folder; nothing moved")
    return _Planned(name, relpath, src, dst, info, now.st_size)


def _quarantine_file(planned: _Planned, findings: list[Finding], root: Path, journal: Journal) -> FileOutcome:
    sha256 = source_sha256(planned.src)
    now = check_fresh(planned.src, planned.info)  # unchanged while it was hashed
    entry = {
        "original": planned.name,
        "quarantined": planned.relpath,
        "root": str(root),
        "size": now.st_size,
        "mtime_ns": now.st_mtime_ns,
        "sha256": sha256,
        "findings": [finding.to_dict() for finding in findings],
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _do_move(journal, QUARANTINE, entry, planned.src, planned.dst)
    return FileOutcome(planned.name, MOVED, size=now.st_size)


def _quarantine_sample(
    record: FindingsRecord, findings: list[Finding], root: Path, journal: Journal, dry_run: bool
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
        except Skip as skip:
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
                raise Skip(blocker.status, f"kept with {blocker.path}, which does not move ({blocker.reason})")
            outcomes.append(
                FileOutcome(step.name, MOVED, size=step.size)
                if dry_run
                else _quarantine_file(step, findings, root, journal)
            )
        except Skip as skip:
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
    dataset = read_report(Path(report_dir))
    selectors = parse_only(only)
    qdir = check_qdir(Path(to), dataset)
    result = QuarantineResult(Path(to), dry_run)
    with ExitStack() as stack:
        if not dry_run:
            try:
                qdir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SanitizeError(f"cannot create the quarantine folder {to}: {exc.strerror}") from None
            stack.enter_context(locked_dirs(dataset.root, qdir, holder=_LOCK_HOLDER))
        journal = stack.enter_context(open_journal(qdir))
        _check_one_root(journal, dataset.root)
        try:
            _quarantine_all(result, dataset, journal, include_warnings, selectors, in_place)
        except SanitizeError as exc:  # a full disk, a read-only folder: what moved is journalled
            listed = dataset.kind in ("listfile", "csv")
            raise result.stopped(exc, journal.path, _LIST_NOT_WRITTEN if listed else "") from None
    return result


#: What a quarantine of a list stopped half-way did not do, and how to have it done.
_LIST_NOT_WRITTEN = ", but the cleaned list was not written: run the quarantine again once that is fixed"


def _quarantine_all(
    result: QuarantineResult,
    dataset: ReportedDataset,
    journal: Journal,
    include_warnings: bool,
    selectors: list[tuple[str, str | None]],
    in_place: bool,
) -> None:
    """Settle what an earlier run left in flight, move every selected sample, then write the
    manifest and (for a list or CSV) the cleaned list, last: only once every move is journalled."""
    if not result.dry_run:
        result.recovered = journal.settle()
    seen: set[str] = set()  # a list may name one file twice; it moves once
    for record in dataset.records:
        findings = selected_findings(record, include_warnings, selectors)
        if not findings or record.path in seen:
            continue
        seen.add(record.path)
        result.outcomes += _quarantine_sample(record, findings, dataset.root, journal, result.dry_run)
    if not result.dry_run:
        journal.write_manifest()
        if dataset.kind in ("listfile", "csv"):
            # a sample kept because it may have changed since the scan keeps its line
            dropped = {o.path for o in result.outcomes if o.status not in (STALE, UNVERIFIED)}
            result.cleaned_list, result.backup = write_cleaned_list(
                dataset.source, dataset.kind, dataset.path_column, dropped, in_place
            )


# --- restore -----------------------------------------------------------------------------------


def _restore_one(record: dict[str, Any], root: Path, journal: Journal, dry_run: bool) -> FileOutcome:
    relpath = safe_relpath(record["quarantined"])
    src = inside(journal.qdir, relpath)
    dst = inside(root, relpath)
    regular_file(src)
    if os.path.lexists(dst):
        raise Skip(CONFLICT, f"{dst} exists now; not overwritten, the quarantined copy stays in QDIR")
    if source_sha256(src) != record["sha256"]:
        raise Skip(CHANGED, f"{src} no longer has the sha256 the manifest records; left in QDIR")
    if not dry_run:
        _do_move(journal, RESTORE, record, src, dst)
    return FileOutcome(record["original"], RESTORED, size=record["size"])


def restore(qdir: Path | str, *, only: Iterable[str] = (), dry_run: bool = False) -> RestoreResult:
    """Move quarantined files back to where they were, byte-identical (sha256 checked).

    `only` restores just these paths (as the dataset names them). A file that now exists at the
    original path is never overwritten: it is reported and the quarantined copy stays.
    """
    qdir = Path(qdir)
    try:
        is_qdir = (qdir / JOURNAL).is_file()
    except OSError as exc:  # a folder that cannot be searched (chmod 000)
        raise SanitizeError(f"cannot read the quarantine folder {qdir}: {exc.strerror}") from None
    if not is_qdir:
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
            stack.enter_context(locked_dirs(root, real_qdir, holder=_LOCK_HOLDER))
        journal = stack.enter_context(open_journal(real_qdir))
        try:
            if not dry_run:
                result.recovered = journal.settle()
            for record in sorted(journal.present.values(), key=by_path):
                names = {record["original"], record["quarantined"]}
                if wanted and not wanted & names:
                    continue
                matched |= names
                try:
                    result.outcomes.append(_restore_one(record, root, journal, dry_run))
                except Skip as skip:
                    result.outcomes.append(FileOutcome(record["original"], skip.status, skip.reason))
            if not dry_run:
                journal.write_manifest()
                _remove_empty_dirs(real_qdir)
        except SanitizeError as exc:  # a full disk, a read-only folder: what moved back is journalled
            raise result.stopped(exc, journal.path) from None
    return matched


def _remove_empty_dirs(qdir: Path) -> None:
    """Folders restore emptied in QDIR; rmdir only ever removes an empty one."""
    for current, dirs, files in os.walk(qdir, topdown=False):
        if not dirs and not files and Path(current) != qdir:
            with suppress(OSError):
                os.rmdir(current)
