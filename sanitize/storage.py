"""Low-level file helpers shared by everything that writes where a user's data lives.

They exist so that a write is atomic (a reader, or a run killed half-way, never sees half a
file: the text goes to a temporary file that is fsync'd and renamed over the target), durable
(a rename is only kept across a power cut once its directory is fsync'd too), checkable
(`sha256_of` hashes a file in 1 MiB chunks, whatever its size) and exclusive (an flock dies with
its process, so a killed run never leaves a stale lock: quarantine locks the directories
themselves, an audit its DB.lock file).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from sanitize.errors import SanitizeError, temporary_files_failed

#: Suffix of a copy in progress, next to its destination (`.NAME.sanitize-partial`).
PARTIAL_SUFFIX = ".sanitize-partial"


def json_text(data: Any, indent: int | None = None) -> str:
    """Strict JSON (no NaN or Infinity, which jq, browsers, Go and Rust refuse) that is valid UTF-8
    whatever file names it holds: non-ASCII text as it is, unless a name holds lone surrogates (the
    bytes of a name that are not UTF-8, as os.fsdecode gives them), which only \\u escapes can
    write; Python reads them back as the same str, and os.fsencode gives the name's bytes again."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, indent=indent, ensure_ascii=True, allow_nan=False)
    return text


def atomic_write_text(path: Path, text: str | Iterable[str], mode: int | None = None) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file. `text` may come
    in pieces (an iterable of lines, written as they are made: a long file is never whole in memory).
    `mode` is given to the file before it takes the name, so the target never has another one.
    A write that fails (a full disk, a read-only folder) leaves the target as it was and removes
    its temporary file: the OSError is the caller's to explain. A file name that is not UTF-8 (a
    str with lone surrogates, from os.fsdecode) is written as its own bytes, as a list file needs it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise


def file_stat(path: str) -> tuple[int | None, int | None]:
    """A file's (size, mtime_ns), both None when it cannot be stat'ed (a NUL in the name included)."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None, None
    return status.st_size, status.st_mtime_ns


def fsync_dir(directory: Path) -> None:
    """Make the renames and creations in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: Path | str, digest: Any) -> str:
    """The hex digest (a hashlib object, fresh) of the file's bytes, read 1 MiB at a time."""
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file's bytes: how quarantine verifies a moved file."""
    return file_digest(path, hashlib.sha256())


def partial_name(path: Path) -> Path:
    """Where a copy bound for `path` is written before it is renamed into place."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


@contextmanager
def lock_file(path: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if need be, holding our pid) while the block runs.
    Another process holding it is a SanitizeError at once, never a wait: `busy` is the message,
    with `{pid}` for the holder's pid."""
    import fcntl  # POSIX only: imported here so that `import sanitize` still works elsewhere

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise SanitizeError(f"cannot open the lock {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise SanitizeError(busy.format(pid=holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


@contextmanager
def locked_dirs(*directories: Path, holder: str) -> Iterator[None]:
    """Exclusive flocks on the directories; another `holder` holding one is an error, never a wait."""
    import fcntl  # POSIX only, as lock_file

    with ExitStack() as stack:
        for directory in directories:
            try:
                fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            except OSError as exc:  # an unreadable folder (chmod 000), most likely
                raise SanitizeError(f"cannot open {directory}: {exc.strerror}") from None
            stack.callback(os.close, fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SanitizeError(
                    f"{directory} is locked by another {holder}; try again when it has finished"
                ) from None
        yield


def make_folder(folder: Path, what: str = "folder") -> None:
    """Create a folder the run writes to (and its parents), or a one-line SanitizeError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SanitizeError(f"cannot create the {what} {folder}: {exc.strerror or exc}") from None


def scratch_file(owner: object, prefix: str) -> Any:
    """An anonymous binary temporary file in TMPDIR for state of `owner`'s that waits on disk, or a
    one-line SanitizeError (a full disk, most likely). It is closed when `owner` is collected, not
    by the file's own collection, whose ResourceWarning can come inside a later decode's
    catch_warnings and be reported as that sample's decode:decoder_warning."""
    try:
        file = tempfile.TemporaryFile(prefix=prefix)  # noqa: SIM115 - closed with its owner
    except OSError as exc:
        raise temporary_files_failed(exc) from None
    weakref.finalize(owner, file.close)
    return file


class Spill:
    """Rows of one numpy dtype appended batch by batch to an anonymous temporary file, read back in
    chunks at the end: per-sample state that a dataset-wide verdict needs at the end stays on disk
    meanwhile, so a scan's memory does not grow with the dataset's length. The file is in TMPDIR
    (Python's tempfile): where /tmp is a RAM-backed tmpfs, point TMPDIR at a disk for 100M samples."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self._file = scratch_file(self, "sanitize-spill-")
        self.rows = 0

    def append(self, rows: np.ndarray) -> None:
        if len(rows):
            try:
                self._file.seek(0, os.SEEK_END)  # after a read, or a read left half-way
                np.ascontiguousarray(rows, dtype=self.dtype).tofile(self._file)
            except OSError as exc:
                raise temporary_files_failed(exc) from None
            self.rows += len(rows)

    def chunks(self, rows: int = 1 << 16) -> Iterator[np.ndarray]:
        """Every row appended so far, `rows` at a time (memory bounded whatever the total)."""
        self._file.flush()
        self._file.seek(0)
        for _ in range(0, self.rows, rows):
            yield np.fromfile(self._file, dtype=self.dtype, count=rows)

    def read(self) -> np.ndarray:
        """Every row appended so far, in one array: for a spill known to be small (a partition)."""
        self._file.flush()
        self._file.seek(0)
        return np.fromfile(self._file, dtype=self.dtype, count=self.rows)


def partitioned(
    chunks: Iterable[np.ndarray], dtype: np.dtype, count: int, part: Callable[[np.ndarray], np.ndarray]
) -> list[Spill]:
    """The rows of `chunks` split into `count` spills in one pass, by `part(rows)`, each row's
    partition number; each partition keeps the rows' order. How a dataset-wide verdict that must
    see rows together (equal hashes) works on one partition at a time, in memory that does not
    grow with the dataset (checks.hashparts)."""
    parts = [Spill(dtype) for _ in range(count)]
    for rows in chunks:
        if count == 1:
            parts[0].append(rows)
            continue
        numbers = part(rows)
        order = np.argsort(numbers, kind="stable")
        edges = np.searchsorted(numbers[order], np.arange(count + 1))
        for spill, start, end in zip(parts, edges[:-1], edges[1:], strict=True):
            spill.append(rows[order[start:end]])
    return parts


#: LMDB environments open in this process, by data.mdb path: the lmdb binding refuses to open one
#: twice in a process, and the client's listing and an in-process check (or a worker's batches) share it.
_LMDB_ENVIRONMENTS: dict[str, Any] = {}


def open_lmdb(data_file: str) -> Any:
    """The LMDB whose data file is `data_file`, read-only with `lock=False`: no lock file is created or
    written (a database on a read-only mount scans, a writer is never blocked), so the reader must
    not be the writer, which a scan never is. Opened once per process (see above); raises lmdb.Error."""
    env = _LMDB_ENVIRONMENTS.get(data_file)
    if env is None:
        import lmdb

        env = lmdb.open(data_file, subdir=False, readonly=True, lock=False, readahead=False, max_readers=8)
        _LMDB_ENVIRONMENTS[data_file] = env
    return env
