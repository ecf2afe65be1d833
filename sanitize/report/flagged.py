"""The flagged samples' results, spilled to a temporary file as they arrive, and what the summary
counts of them, counted as they arrive.

A dataset with 2% exact duplicates has 2M flagged samples at 100M: held as SampleResults until
the end of the scan, they took about 1 KB each in the client (measured: docs/performance.md).
Each is written instead as its findings.jsonl line (the report's own record, read back by the
report's own reader, files.FindingsRecord: JSON, never a pickle), and only its sample index and
the line's byte offset stay in memory, 16 bytes a sample. `FlaggedResults` is then a read-only
Sequence in sample-index order that reads each result back when asked, so the report's writers
stream them; `FlaggedTally` keeps the counts summary.json needs, bounded by the catalogue's size.
"""

from __future__ import annotations

import bisect
import operator
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import dataclass, field
from typing import overload

import numpy as np

from sanitize.errors import temporary_files_failed
from sanitize.findings import Finding
from sanitize.model import ImageInfo, SampleResult
from sanitize.report.files import FindingsRecord, findings_line
from sanitize.report.summary import CodeCount
from sanitize.storage import scratch_file

#: Example paths kept per code (summary.json's `findings`, the terminal table).
EXAMPLES_PER_CODE = 3


class FlaggedResults(Sequence[SampleResult]):
    """Flagged results appended in any order, one per sample, then (once `seal`ed) a read-only
    Sequence of them in sample-index order, each read back from the temporary file when asked.

    Read back, a result has what findings.jsonl records of it (path, label, findings, info, mask,
    mask_info: None when nothing of it is known) and its index; the numbers only the summary and
    the dataset-wide checks use (loss, magnitude, label_index, hashes, mask values) are not kept:
    they were folded in when the result arrived."""

    def __init__(self) -> None:
        self._file = scratch_file(self, "sanitize-flagged-")
        self._arrived_indices = array("q")
        self._arrived_offsets = array("q")
        self._end = 0
        self._indices = np.empty(0, dtype=np.int64)
        self._offsets = np.empty(0, dtype=np.int64)
        self._added: dict[int, list[Finding]] = {}
        self._sealed = False
        self._lock = threading.Lock()

    def append(self, result: SampleResult) -> None:
        """Write `result` at the end of the file (before `seal` only)."""
        if self._sealed:
            raise RuntimeError("results cannot be appended to sealed FlaggedResults")
        line = findings_line(result).encode()  # valid UTF-8 whatever the names (storage.json_text)
        try:
            self._file.write(line)
        except OSError as exc:
            raise temporary_files_failed(exc) from None
        self._arrived_indices.append(result.index)
        self._arrived_offsets.append(self._end)
        self._end += len(line)

    def seal(self) -> None:
        """No more appends: order the results by sample index."""
        try:
            self._file.flush()
        except OSError as exc:
            raise temporary_files_failed(exc) from None
        indices = np.frombuffer(self._arrived_indices, dtype=np.int64)
        order = np.argsort(indices)
        self._indices = indices[order]
        self._offsets = np.frombuffer(self._arrived_offsets, dtype=np.int64)[order]
        self._arrived_indices, self._arrived_offsets = array("q"), array("q")
        self._sealed = True

    def add_findings(self, added: dict[int, list[Finding]]) -> None:
        """Findings given to flagged samples since they were appended (a dataset-wide verdict's),
        by sample index: put after theirs each time one is read. The file is never rewritten."""
        for index, findings in added.items():  # the lists are kept, not copied, and never changed
            self._added[index] = self._added[index] + findings if index in self._added else findings

    def appended(self, indices: np.ndarray) -> np.ndarray:
        """Which of the sample `indices` have a result appended (before `seal`), as booleans."""
        return np.isin(indices, np.frombuffer(self._arrived_indices, dtype=np.int64))

    def by_index(self, index: int) -> SampleResult:
        """The result of the sample whose index is `index` (KeyError when it was not flagged)."""
        position = int(np.searchsorted(self._indices, index))
        if position == len(self._indices) or self._indices[position] != index:
            raise KeyError(index)
        return self[position]

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, position: int) -> SampleResult: ...

    @overload
    def __getitem__(self, position: slice) -> list[SampleResult]: ...

    def __getitem__(self, position: int | slice) -> SampleResult | list[SampleResult]:
        if isinstance(position, slice):
            return [self[p] for p in range(*position.indices(len(self)))]
        if not self._sealed:
            raise RuntimeError("FlaggedResults are read once sealed")
        index = int(self._indices[position])  # IndexError past the end, as a list's
        with self._lock:
            self._file.seek(int(self._offsets[position]))
            line = self._file.readline().decode()
        return _result(index, FindingsRecord.from_json(line, position + 1), self._added.get(index, ()))

    def __iter__(self) -> Iterator[SampleResult]:
        return (self[position] for position in range(len(self)))


def _result(index: int, record: FindingsRecord, added: Iterable[Finding]) -> SampleResult:
    """A SampleResult from its findings.jsonl record, with the findings given to it since."""
    return SampleResult(
        index,
        record.path,
        record.label,
        [*record.findings, *added],
        ImageInfo(**record.info),
        mask=record.mask,
        mask_info=ImageInfo(**record.mask_info) if record.mask_info else None,
    )


@dataclass
class _CodeTally:
    """One code's samples, and the first few of them by sample index: (index, severity, path)."""

    samples: int = 0
    first: list[tuple[int, str, str]] = field(default_factory=list)


class IndexSet(Set[int]):
    """A set of sample indices as one bit each, up to the largest: what clean.txt leaves out.

    A Python set of 2M error indices (2% of a 100M-sample scan) took about 130 MB; this takes a
    bit per sample scanned (12.5 MB at 100M) and answers `in` as fast, for clean.txt asks it once
    a sample."""

    def __init__(self, indices: np.ndarray) -> None:
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        if indices.size and indices[0] < 0:
            raise ValueError(f"a sample index is never negative: {indices[0]}")
        size = int(indices[-1]) + 1 if indices.size else 0
        # the bits set in place, a byte's indices OR-ed together (they are sorted): a bool array
        # packed would first hold a byte a sample, eight times the set
        self._bits = bytearray((size + 7) // 8)  # indexed, a Python int: no numpy scalar
        if indices.size:
            at = indices >> 3
            starts = np.flatnonzero(np.concatenate(([True], at[1:] != at[:-1])))
            bits = np.left_shift(np.uint8(1), (indices & 7).astype(np.uint8))
            np.frombuffer(self._bits, np.uint8)[at[starts]] = np.bitwise_or.reduceat(bits, starts)
        self._size = size
        self._count = int(indices.size)

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int):
            try:  # a numpy integer names the same sample as its int (a float or a str names none)
                index = operator.index(index)
            except TypeError:
                return False
        return 0 <= index < self._size and bool(self._bits[index >> 3] >> (index & 7) & 1)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        """The indices in increasing order, unpacked a slice at a time."""
        step = 1 << 16  # bytes of bits a slice
        for start in range(0, len(self._bits), step):
            flags = np.unpackbits(
                np.frombuffer(self._bits, np.uint8, min(step, len(self._bits) - start), start), bitorder="little"
            )
            yield from (np.flatnonzero(flags) + start * 8).tolist()

    @classmethod
    def _from_iterable(cls, iterable: Iterable[int]) -> frozenset[int]:
        """What Set's operators (|, &, -, ^) make: a frozenset, for the result may hold any int."""
        return frozenset(iterable)

    def __repr__(self) -> str:
        return f"IndexSet({list(self)!r})" if self._count <= 20 else f"IndexSet(<{self._count:,} indices>)"


class FlaggedTally:
    """What summary.json counts of the flagged samples, counted as each arrives, in any order:
    samples with errors and with warnings, the error indices (clean.txt leaves them out), and per
    code its samples, its severity in the first sample (by index) that has it, and example paths."""

    def __init__(self) -> None:
        self.with_errors = 0
        self.with_warnings = 0
        self.error_indices = array("q")
        self._codes: dict[str, _CodeTally] = {}

    def add(self, index: int, path: str, findings: Iterable[Finding], before: Iterable[Finding] = ()) -> None:
        """Count `findings` of sample `index`, given after `before` (findings counted already)."""
        before = list(before)
        seen = {f.name for f in before}
        had_error, had_warning = any(f.is_error for f in before), any(not f.is_error for f in before)
        has_error, has_warning = had_error, had_warning
        for finding in findings:
            has_error |= finding.is_error
            has_warning |= not finding.is_error
            if finding.name in seen:
                continue
            seen.add(finding.name)
            tally = self._codes.setdefault(finding.name, _CodeTally())
            tally.samples += 1
            bisect.insort(tally.first, (index, finding.severity.value, path))
            del tally.first[EXAMPLES_PER_CODE:]
        if has_error and not had_error:
            self.with_errors += 1
            self.error_indices.append(index)
        self.with_warnings += has_warning and not had_warning

    def findings(self) -> dict[str, CodeCount]:
        """Samples per code, with examples; errors first, then by name."""
        counts = {
            name: CodeCount(tally.first[0][1], tally.samples, [path for _, _, path in tally.first])
            for name, tally in self._codes.items()
        }
        return dict(sorted(counts.items(), key=lambda kv: (kv[1].severity, kv[0])))
