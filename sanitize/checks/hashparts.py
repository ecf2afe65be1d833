"""The hash index (checks.hashindex) one partition at a time: equal and nearly equal hashes among
any number of samples, in memory that does not grow with their number.

The duplicate and leakage checks keep every sample's hashes in a temporary file until the end
(storage.Spill). Read back whole, their verdicts held about 75 bytes a sample at the peak (the
columns, np.unique's inverse, the index's sorts: +76 MB at a million samples, measured in a
scan, so ~7.5 GB at 100M). Instead the rows are split, in one pass, into partition files of
about PARTITION_ROWS rows each, such that whatever must meet lands in one partition, and each
partition is judged alone:

- Equal values (exact duplicates; equal perceptual hashes, folded into one entry of the index):
  partitioned on ranges of values in signed order, so equal values share a partition, the
  partitions follow each other in sorted order, and the distinct values numbered partition after
  partition get np.unique's numbers for the whole column. The ranges' bounds come from a
  histogram of the values' top 16 bits (one more pass), for a perceptual hash's top bits are far
  from uniform: ranges of equal width would leave most partitions empty and a few full.
- Near values (multi-index hashing, hashindex): a pair is found in a run of equal keys, a chunk
  of the hash with one bit cleared. Partitioned on the chunk's top half (hashed, to spread its
  few values evenly), the keys clearing a bit of its low half keep every run whole in one
  partition; partitioned on its low half, the keys clearing a bit of its top half do. Two passes
  per chunk, six for NEAR_DISTANCE 5, each writing the distinct values again (16 bytes each).

Results are those of the whole-column functions, findings and messages alike
(tests/checks/test_hashparts.py lowers PARTITION_ROWS to force many partitions). Memory: one
partition at a time (65,536 rows, ~10 MB with np.unique's sort) and the spill's chunks, plus what
the verdict reports (the duplicates and their pairs): a million samples' verdict peaked 16 MB
above the scan, 30,000 samples' 4 MB. At most MAX_PARTS partition files are open at once per
split, so beyond MAX_PARTS x PARTITION_ROWS rows (16.8M) partitions grow (an estimated 40 MB
at 100M).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

import numpy as np

from sanitize.checks.hashindex import chunks, key_pairs, near_pairs
from sanitize.storage import Spill, partitioned

#: Rows a partition holds, about, until there are MAX_PARTS partitions.
PARTITION_ROWS = 1 << 16
#: The most partition files of one split open at once (a common open-file limit is 1024).
MAX_PARTS = 256
#: A distinct value and its number (its position among all the distinct values, sorted).
_PLACED = np.dtype([("position", np.int64), ("value", np.int64)])
#: Bits of the prefix whose histogram places the boundaries of value ranges (512 KB of counts).
_PREFIX_BITS = 16
#: Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): spreads the few values of a chunk's half.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def partition_count(rows: int) -> int:
    """Partitions for `rows` rows, so that each holds about PARTITION_ROWS (1: no partitioning)."""
    return min(max(math.ceil(rows / PARTITION_ROWS), 1), MAX_PARTS)


def _prefixes(values: np.ndarray) -> np.ndarray:
    """The top bits of int64 values, in signed order (the sign bit flipped makes it the unsigned one)."""
    flipped = values.astype(np.int64).view(np.uint64) ^ np.uint64(1 << 63)
    return (flipped >> np.uint64(64 - _PREFIX_BITS)).astype(np.int64)


class ValueRanges:
    """Partitions of int64 values by ranges in signed order, about equally full: equal values share
    one, and partition i holds smaller values than partition i + 1. The boundaries come from a
    histogram of the values' top bits (one pass over `columns`, `rows` values in all), so skewed
    values (a perceptual hash's top bits are far from uniform) still fill the partitions evenly."""

    def __init__(self, columns: Iterable[np.ndarray], rows: int) -> None:
        wanted = partition_count(rows)
        self.starts = np.zeros(0, dtype=np.int64)  # the prefix each partition after the first starts at
        if wanted > 1:
            counts = np.zeros(1 << _PREFIX_BITS, dtype=np.int64)
            for values in columns:
                counts += np.bincount(_prefixes(values), minlength=len(counts))
            below = np.cumsum(counts) - counts
            self.starts = np.searchsorted(below, np.arange(1, wanted) * rows / wanted, side="left")
        self.count = len(self.starts) + 1

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, _prefixes(values), side="right")


def by_value(rows: Iterable[np.ndarray], dtype: np.dtype, field: str, ranges: ValueRanges) -> list[Spill]:
    """The rows (chunks of `dtype`) partitioned on `field`'s value `ranges`."""
    return partitioned(rows, dtype, ranges.count, lambda chunk: ranges(chunk[field]))


class Fold(NamedTuple):
    """One partition with equal values folded: its rows, each value's number among the distinct
    values of every partition (np.unique's inverse over the whole column), and the partition's
    distinct values (numbered from `first`) with how often each occurs."""

    rows: np.ndarray
    numbers: np.ndarray
    values: np.ndarray
    counts: np.ndarray
    first: int


def folded(parts: list[Spill], field: str, extra: list[np.ndarray] | None = None) -> Iterator[Fold]:
    """The partitions of `by_value`, in order, folded on `field`. `extra[i]` (values partitioned
    the same way, e.g. a validation set's) joins partition i: their numbers follow the rows'."""
    first = 0
    for number, part in enumerate(parts):
        rows = part.read()
        column = np.ascontiguousarray(rows[field]) if extra is None else np.concatenate([rows[field], extra[number]])
        values, inverse, counts = np.unique(column, return_inverse=True, return_counts=True)
        yield Fold(rows, first + inverse, values, counts, first)
        first += len(values)


def within(wanted: np.ndarray, start: int, end: int) -> np.ndarray:
    """The values of `wanted` (sorted) in [start, end), minus start: a partition's share of them
    found by bisection (np.isin would sort them all again for every partition or chunk)."""
    return wanted[np.searchsorted(wanted, start) : np.searchsorted(wanted, end)] - start


def marked(fold: Fold, numbers: np.ndarray) -> np.ndarray:
    """A mask over the fold's distinct values: those whose number is in `numbers` (sorted)."""
    mask = np.zeros(len(fold.values), dtype=bool)
    mask[within(numbers, fold.first, fold.first + len(fold.values))] = True
    return mask


def distinct(parts: list[Spill], field: str, extra: list[np.ndarray] | None = None) -> Spill:
    """Every distinct value of `field` (and of `extra`) in the partitions, sorted, to a new spill."""
    values = Spill(np.dtype(np.int64))
    for fold in folded(parts, field, extra):
        values.append(fold.values)
    return values


def values_at(values: Spill, positions: np.ndarray) -> dict[int, int]:
    """{position: value} of a spill of values, for a few positions, read chunk by chunk."""
    wanted = np.unique(positions)
    found: dict[int, int] = {}
    start = 0
    for chunk in values.chunks():
        inside = within(wanted, start, start + len(chunk))
        found.update(zip((inside + start).tolist(), chunk[inside].tolist(), strict=True))
        start += len(chunk)
    return found


def _placed(values: Spill) -> Iterator[np.ndarray]:
    """The nonzero values with their positions, chunk by chunk (0 is no hash: never paired)."""
    start = 0
    for chunk in values.chunks():
        rows = np.empty(len(chunk), dtype=_PLACED)
        rows["position"] = np.arange(start, start + len(chunk))
        rows["value"] = chunk
        yield rows[chunk != 0]
        start += len(chunk)


def _spread(shift: int, width: int, count: int) -> Callable[[np.ndarray], np.ndarray]:
    """The partition of each row, one of `count`: its value's bits from `shift` up, `width` of
    them, hashed (so that a skewed chunk still fills the partitions about evenly)."""
    mask = np.uint64((1 << width) - 1)
    return lambda rows: (
        ((((rows["value"].view(np.uint64) >> np.uint64(shift)) & mask) * _GOLDEN) >> np.uint64(40)).astype(np.int64)
        % count
    )


def spilled_near_pairs(values: Spill, distance: int) -> np.ndarray:
    """hashindex.near_pairs of a spilled column of int64 values (positions in the spill), one
    partition at a time (see the module docstring): the same pairs, sorted and unique."""
    count = partition_count(values.rows)
    if count == 1:
        return near_pairs(values.read(), distance)
    found: list[np.ndarray] = []
    for shift, width in chunks(distance):
        half = width // 2
        # on the chunk's top half for keys clearing a bit of its low half, and the other way round
        for on, cleared in (
            (_spread(shift + half, width - half, count), range(half)),
            (_spread(shift, half, count), range(half, width)),
        ):
            for part in partitioned(_placed(values), _PLACED, count, on):
                rows = part.read()
                bits = rows["value"].view(np.uint64)
                found.extend(rows["position"][pairs] for pairs in key_pairs(bits, distance, shift, width, cleared))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)
