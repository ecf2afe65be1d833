"""The hash index one partition at a time (checks.hashparts): the same pairs, numbers and findings
as the whole-column functions, with partitions forced small (PARTITION_ROWS lowered); partitions
balanced on skewed hashes; and the verdicts' memory bounded by a partition, not the dataset."""

from __future__ import annotations

import itertools
import os
import resource
import tracemalloc

import numpy as np
import pytest

from sanitize.checks import hashparts
from sanitize.checks.duplicates import Duplicates
from sanitize.checks.hashindex import near_pairs
from sanitize.checks.hashparts import ValueRanges, by_value, distinct, folded, spilled_near_pairs
from sanitize.config import ScanConfig
from sanitize.errors import SanitizeError
from sanitize.model import CleanColumns, ImageInfo, Sample
from sanitize.storage import Spill

_VALUE = np.dtype([("value", np.int64)])


def _spill(values: np.ndarray) -> Spill:
    spill = Spill(np.dtype(np.int64))
    for start in range(0, len(values), 1000):  # in batches, as a scan appends them
        spill.append(values[start : start + 1000])
    return spill


def _planted(rng: np.random.Generator, count: int, skewed: bool) -> np.ndarray:
    """Random hashes with neighbours 0-7 bits away, repeats and zeros; `skewed`: the top 12 bits
    constant (the top chunk's top half), as a perceptual hash's low frequencies can be."""
    values = rng.integers(-(2**63), 2**63 - 1, count, dtype=np.int64).view(np.uint64)
    if skewed:
        values = (values & np.uint64(0x000F_FFFF_FFFF_FFFF)) | np.uint64(0x7A50_0000_0000_0000)
    near = values[rng.integers(0, count, count // 4)].copy()
    for position in range(len(near)):
        for bit in rng.choice(64, int(rng.integers(0, 8)), replace=False):
            near[position] ^= np.uint64(1 << int(bit))
    hashes = np.concatenate([values, near, values[:50]]).view(np.int64)
    hashes[rng.integers(0, len(hashes), 40)] = 0
    return rng.permutation(hashes)


@pytest.mark.parametrize("skewed", [False, True], ids=["uniform", "skewed"])
@pytest.mark.parametrize("rows", [1 << 16, 700, 1])
def test_spilled_near_pairs_are_near_pairs_whatever_the_partitions(monkeypatch, rows, skewed):
    monkeypatch.setattr(hashparts, "PARTITION_ROWS", rows)
    hashes = np.unique(_planted(np.random.default_rng(rows), 6000, skewed))  # distinct, sorted: as folded
    expected = near_pairs(hashes, 5)
    assert len(expected) > 500
    assert np.array_equal(spilled_near_pairs(_spill(hashes), 5), expected)


@pytest.mark.parametrize("skewed", [False, True], ids=["uniform", "skewed"])
def test_value_ranges_keep_equal_values_together_in_order_and_fill_evenly(monkeypatch, skewed):
    monkeypatch.setattr(hashparts, "PARTITION_ROWS", 1000)
    hashes = _planted(np.random.default_rng(3), 16_000, skewed)
    rows = np.empty(len(hashes), _VALUE)
    rows["value"] = hashes
    ranges = ValueRanges([hashes[:9000], hashes[9000:]], len(hashes))
    parts = by_value([rows[:5000], rows[5000:]], _VALUE, "value", ranges)
    assert ranges.count == len(parts) == 21  # 20,050 hashes / 1000
    contents = [part.read()["value"] for part in parts]
    assert max(len(values) for values in contents) < 2 * 1000  # balanced though the top bits are not
    ends = [(values.min(), values.max()) for values in contents if len(values)]
    assert all(high < low for (_, high), (low, _) in itertools.pairwise(ends))  # disjoint, in order
    assert np.array_equal(np.sort(np.concatenate(contents)), np.sort(hashes))


def test_folding_partition_by_partition_numbers_the_values_as_np_unique(monkeypatch):
    monkeypatch.setattr(hashparts, "PARTITION_ROWS", 500)
    hashes = _planted(np.random.default_rng(4), 5000, skewed=True)
    extra = np.random.default_rng(5).choice(hashes, 300)  # a validation set's, joining the partitions
    rows = np.empty(len(hashes), _VALUE)
    rows["value"] = hashes
    ranges = ValueRanges([hashes, extra], len(hashes) + len(extra))
    parts = by_value([rows], _VALUE, "value", ranges)
    extras = [extra[ranges(extra) == number] for number in range(len(parts))]
    values, inverse = np.unique(np.concatenate([hashes, extra]), return_inverse=True)
    assert np.array_equal(distinct(parts, "value", extras).read(), values)
    for fold, part_extra in zip(folded(parts, "value", extras), extras, strict=True):
        mine = np.isin(hashes, fold.rows["value"])
        assert np.array_equal(fold.numbers[: len(fold.rows)], inverse[: len(hashes)][mine])
        assert np.array_equal(values[fold.numbers[len(fold.rows) :]], part_extra)


def _clean(indices: np.ndarray, classes: np.ndarray, digests: np.ndarray, phashes: np.ndarray) -> CleanColumns:
    """Clean samples' columns as a batch brings them, with these hashes and classes."""
    n = len(indices)
    return CleanColumns(
        indices=indices,
        class_index=classes,
        labelled=np.ones(n, bool),
        magnitudes=np.full(n, np.nan),
        losses=np.full(n, np.nan),
        file_stats=np.ones((n, 2), np.int64),
        infos=[ImageInfo()],
        info_index=np.zeros(n, np.int32),
        digests=digests,
        phashes=phashes,
    )


def _duplicates(count: int, copies: int, unhashed: bool = False) -> Duplicates:
    """A duplicate check fed `count` samples: `copies` exact copies (under the same and other
    labels), as many near copies, one picture many times, samples without a hash (`unhashed`:
    all of them, neither digest nor perceptual hash, as for files never read)."""
    rng = np.random.default_rng(9)
    digests = rng.integers(-(2**63), 2**63 - 1, count, dtype=np.int64)
    phashes = _planted(rng, count, skewed=True)[:count] if copies else digests[::-1] * 3
    copies, sources = rng.integers(0, count, (2, copies))
    digests[copies], phashes[copies] = digests[sources], phashes[sources]
    phashes[rng.integers(0, count, 30)] = phashes[7]
    if unhashed:
        digests[:], phashes[:] = 0, 0
    check = Duplicates(ScanConfig(num_classes=10))
    for start in range(0, count, 4096):
        end = min(count, start + 4096)
        indices = np.arange(start, end, dtype=np.int64)[::-1].copy()  # indices are not positions
        check.add_columns(_clean(indices, rng.integers(0, 10, end - start), digests[start:end], phashes[start:end]))
    return check


def _samples(indices):
    return {i: Sample(i, f"img/{i}.png", f"img/{i}.png", str(i % 10)) for i in indices}


def test_duplicate_findings_are_the_same_with_one_partition_or_hundreds(monkeypatch):
    """One partition is the whole-column algorithm; 1,000 rows a partition splits 20,000 samples
    into 21 (and their distinct hashes likewise for each key of the index)."""
    whole = _duplicates(20_000, 1000)
    expected = [(i, f.name, f.message) for i, f in whole.verdict(_samples).items()]
    assert whole.counts["exact_groups"] > 500 and whole.counts["near_conflicting_samples"] > 500
    monkeypatch.setattr(hashparts, "PARTITION_ROWS", 1000)
    parted = _duplicates(20_000, 1000)
    assert [(i, f.name, f.message) for i, f in parted.verdict(_samples).items()] == expected
    assert parted.counts == whole.counts


@pytest.mark.parametrize("unhashed", [False, True])
def test_the_duplicate_verdict_holds_a_partition_at_a_time_not_the_dataset(monkeypatch, unhashed):
    """600,000 samples: reading the columns whole held ~60 bytes a sample (36 MB here); partitions
    of 16,384 rows hold a few MB, and the spill's chunks of 65,536 rows a few more, whatever the
    count (the findings themselves aside: few here). Samples without a hash (0) are never linked:
    they take no partition, or all of them would fill one (52 MB here, found by review)."""
    monkeypatch.setattr(hashparts, "PARTITION_ROWS", 1 << 14)
    check = _duplicates(600_000, 0, unhashed)
    tracemalloc.start()
    try:
        check.verdict(_samples)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * (1 << 20), peak


def test_too_many_open_files_is_one_line_naming_the_limit_not_the_disk(monkeypatch):
    """A big dataset's verdict keeps a few hundred partition files open; under a low open-file
    limit (256 on macOS by default) that is EMFILE, which must not be told as a full disk."""
    monkeypatch.setattr(hashparts, "PARTITION_ROWS", 50)
    check = _duplicates(20_000, 100)  # 256 partitions of each split
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 64, hard))
    try:
        with pytest.raises(SanitizeError, match=r"Too many open files \(raise the open-file limit"):
            check.verdict(_samples)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_duplicate_messages_do_not_depend_on_the_order_batches_came_back_in():
    """Batches come back in whatever order the workers finish: the copies a message names, and
    the sample a near conflict names, are chosen by sample index, so two scans of one dataset
    write the same findings (an audit's diff compares them)."""
    rng = np.random.default_rng(5)
    count = 3000
    digests = rng.integers(-(2**63), 2**63 - 1, count, dtype=np.int64)
    phashes = rng.integers(-(2**63), 2**63 - 1, count, dtype=np.int64)
    sources, copies = rng.integers(0, count, (2, 400))
    digests[copies], phashes[copies] = digests[sources], phashes[sources]
    digests[copies[:12]], phashes[copies[:12]] = digests[5], phashes[5]  # one file, 13 entries
    phashes[rng.integers(0, count, 200)] = phashes[11]  # one picture, many labels: near conflicts
    labels = rng.integers(0, 10, count)
    verdicts = []
    for batches in (range(0, count, 100), reversed(range(0, count, 100))):
        check = Duplicates(ScanConfig(num_classes=10))
        for start in batches:
            end = start + 100
            indices = np.arange(start, end, dtype=np.int64)
            check.add_columns(_clean(indices, labels[start:end], digests[start:end], phashes[start:end]))
        verdicts.append(sorted((i, f.name, f.message) for i, f in check.verdict(_samples).items()))
    assert any("more" in message for _, _, message in verdicts[0])  # groups larger than SHOWN
    assert any(name == "duplicate:near_label_conflict" for _, name, _ in verdicts[0])
    assert verdicts[0] == verdicts[1]
