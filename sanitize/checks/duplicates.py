"""duplicate (dataset-wide): the same image under two entries, or nearly the same under two labels.

Every sample carries back the digest of its file's bytes and the perceptual hash of its pixels
(load.fingerprint). Entries with the same bytes are exact duplicates: a warning when they agree
(wasted compute, a class weighted twice), an error when their labels do not (for segmentation:
when their masks' class maps differ), for the net is then taught both. Images whose perceptual
hashes are at most NEAR_DISTANCE bits apart are the same picture re-encoded, resized or
recompressed: a warning when their labels disagree (two labels for one picture are a labelling
error more often than not; near duplicates that agree are only counted). Web-scraped sets are
full of both (Barz and Denzler, "Do We Train on Test Data? Purging CIFAR of Near-Duplicates",
2020, found 3.3% of CIFAR-10's test images in its training set).

Memory: 32 bytes a sample on disk until the verdict, and while it is made about 100 more on disk
(the rows with their positions split into partition files, then the distinct hashes, six times),
but in memory one partition at a time (checks.hashparts): a few MB, whatever the dataset's length,
besides the duplicates found.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from sanitize.checks.hashindex import repeated
from sanitize.checks.hashparts import ValueRanges, by_value, distinct, folded, marked, spilled_near_pairs, within
from sanitize.checks.kinds import DatasetCheck, SamplesOf
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.findings import Finding, error, warning
from sanitize.model import CleanColumns, Sample, SampleResult
from sanitize.storage import Spill

#: Perceptual hashes at most this many bits apart are near duplicates (the index finds every such
#: pair: checks.hashindex). Measured on the shared corpus's photos: a JPEG re-encoded at quality
#: 60 moves 0-6 bits, halved in size 2-6, resized to 3/4 2-10 (pHash's bits flip in pairs:
#: a coefficient crossing the median swaps sides with another); unrelated pictures are 12 or more
#: apart (22 or more among photos). So re-encodes are found, most resizes too; crops often move more.
NEAR_DISTANCE = 5
#: How many of the other entries a message names.
SHOWN = 3


class HashedSamples(DatasetCheck):
    """State: (sample index, digest, perceptual hash, label key) of every sample, spilled to a
    temporary file (32 bytes a sample on disk, none in memory). The label key is the class + 1 for
    classification, the mask's class-map digest for segmentation; 0: none (never in conflict)."""

    _ROW = np.dtype([("index", np.int64), ("digest", np.int64), ("phash", np.int64), ("key", np.int64)])
    _PLACED = np.dtype([("position", np.int64), *_ROW.descr])

    def __init__(self, config: ScanConfig, against: tuple[Dataset, ...] = ()) -> None:
        super().__init__(config, against)
        self._spill = Spill(self._ROW)
        self.counts: dict[str, Any] = {}  # the summary section the verdict fills

    @classmethod
    def applies(cls, config: ScanConfig) -> bool:
        return True

    def add(self, results: list[SampleResult]) -> None:
        segmentation = self.config.task == "segmentation"
        rows = np.empty(len(results), dtype=self._ROW)
        rows["index"] = [r.index for r in results]
        rows["digest"] = [r.digest for r in results]
        rows["phash"] = [r.phash for r in results]
        rows["key"] = [
            r.mask_digest if segmentation else (0 if r.label_index is None else r.label_index + 1) for r in results
        ]
        self._spill.append(rows)

    def add_columns(self, clean: CleanColumns) -> None:
        rows = np.empty(len(clean), dtype=self._ROW)
        rows["index"], rows["digest"], rows["phash"] = clean.indices, clean.digests, clean.phashes
        rows["key"] = clean.class_index + 1  # a clean sample has no mask
        self._spill.append(rows)

    def placed(self) -> Iterator[np.ndarray]:
        """Every row with its position (the order the rows came in), chunk by chunk."""
        start = 0
        for rows in self._spill.chunks():
            placed = np.empty(len(rows), dtype=self._PLACED)
            placed["position"] = np.arange(start, start + len(rows))
            for name in self._ROW.names:
                placed[name] = rows[name]
            yield placed
            start += len(rows)

    def partitions(
        self, rows: Iterable[np.ndarray], field: str, extra: np.ndarray | None = None
    ) -> tuple[list[Spill], ValueRanges]:
        """The placed `rows` in partition files on ranges of `field`'s values (checks.hashparts),
        the ranges balanced over the spilled values and `extra` (values that will join them)."""
        extra = np.zeros(0, np.int64) if extra is None else extra
        columns = itertools.chain((chunk[field] for chunk in self._spill.chunks()), [extra])
        ranges = ValueRanges(columns, self._spill.rows + len(extra))
        return by_value(rows, self._PLACED, field, ranges), ranges


def conflicting(keys: np.ndarray) -> bool:
    """Whether the label keys of entries with one image disagree (0, no label, agrees with any)."""
    return len(np.unique(keys[keys != 0])) > 1


def named(sample: Sample | None, segmentation: bool) -> str:
    if sample is None:
        return "?"
    if segmentation:
        return f"{sample.path} (mask {sample.mask})"
    return f"{sample.path} ({'no label' if sample.label is None else f'label {sample.label}'})"


class Duplicates(HashedSamples):
    code = "duplicate:exact"
    section = "duplicates"

    def _exact(self) -> np.ndarray:
        """The rows (placed) whose digest another row has too, in the order they came: found
        partition by partition, for equal digests share one."""
        members = []
        # 0 is no digest (a file never read): never a duplicate, and left out so that a million
        # unread files do not fill one partition
        hashed = (rows[rows["digest"] != 0] for rows in self.placed())
        for part in self.partitions(hashed, "digest")[0]:
            rows = part.read()
            members.append(rows[np.isin(rows["digest"], repeated(rows["digest"].copy()))])
        members = np.concatenate(members)
        return members[np.argsort(members["position"])]

    def _near(self, skipped: np.ndarray) -> tuple[list[tuple[int, int, int]], dict[int, set[int]]]:
        """The samples with a near duplicate: (index, label key, hash value number) of each, and the
        numbers of the hash values near each value (equal values are near too). The samples at the
        positions `skipped` (all but the lowest index of each exact group) take no part. Equal hashes are folded
        first, so a picture saved a thousand times costs one entry of the index, not 500,000 pairs.
        Partition by partition (checks.hashparts): the numbers are np.unique's over every nonzero hash."""

        def without_skipped(chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
            """The rows with a hash, but those skipped: 0 is no hash (never linked), and left out so
            that a million undecoded or skipped samples do not fill one partition."""
            for rows in chunks:
                start = int(rows["position"][0])  # a chunk is never empty
                rows["phash"][within(skipped, start, start + len(rows))] = 0
                yield rows[rows["phash"] != 0]

        parts, _ = self.partitions(without_skipped(self.placed()), "phash")
        pairs = spilled_near_pairs(distinct(parts, "phash"), NEAR_DISTANCE)
        paired = np.unique(pairs)
        linked_rows, linked_numbers = [], []
        for fold in folded(parts, "phash"):
            linked = (fold.counts > 1) | marked(fold, paired)
            hit = linked[fold.numbers - fold.first]
            linked_rows.append(fold.rows[hit])
            linked_numbers.append(fold.numbers[hit])
        rows, numbers = np.concatenate(linked_rows), np.concatenate(linked_numbers)
        order = np.argsort(rows["index"], kind="stable")  # by index: the same messages whatever order batches came in
        rows, numbers = rows[order], numbers[order].tolist()
        near: dict[int, set[int]] = {number: {number} for number in set(numbers)}
        for a, b in pairs.tolist():
            near[a].add(b)
            near[b].add(a)
        found = [(int(i), int(k), n) for i, k, n in zip(rows["index"], rows["key"], numbers, strict=True)]
        return found, near

    def verdict(self, samples_of: SamplesOf) -> dict[int, Finding]:
        segmentation = self.config.task == "segmentation"
        members = self._exact()
        by_index = np.lexsort((members["index"], members["digest"]))  # each group's first: its lowest index
        _, first = np.unique(members["digest"][by_index], return_index=True)
        near, neighbours = self._near(np.sort(np.delete(members["position"], by_index[first])))
        holders: dict[int, dict[int, int]] = {}  # per hash value: one sample of each label key
        for index, key, number in near:
            if key:
                holders.setdefault(number, {}).setdefault(key, index)
        near_conflicts: dict[int, int] = {}  # sample -> a near duplicate of it with another label
        for index, key, number in near:
            for other in neighbours[number]:
                clash = next((i for k, i in holders.get(other, {}).items() if key and k != key), None)
                if clash is not None:
                    near_conflicts[index] = clash
                    break
        members = members[np.argsort(members["digest"], kind="stable")]
        groups = np.split(members, np.flatnonzero(np.diff(members["digest"])) + 1) if len(members) else []
        # a message names at most SHOWN others of its group, always among the group's SHOWN + 1 lowest indices
        named_ones = {i for group in groups for i in np.sort(group["index"])[: SHOWN + 1].tolist()}
        samples = samples_of(named_ones | {*near_conflicts, *near_conflicts.values()})
        findings: dict[int, Finding] = {}
        conflicts = 0
        for group in groups:
            indices = sorted(group["index"].tolist())  # by index, as above
            clash = conflicting(group["key"])
            conflicts += clash
            head = indices[: SHOWN + 1]  # a copy's message names the SHOWN lowest indices but its own
            more = f" and {len(indices) - 1 - SHOWN} more" if len(indices) - 1 > SHOWN else ""
            past_head = None  # the copies past the head all name the same SHOWN: one Finding serves them
            for position, index in enumerate(indices):
                if past_head is not None:
                    findings[index] = past_head
                    continue
                shown = ", ".join(named(samples.get(i), segmentation) for i in [i for i in head if i != index][:SHOWN])
                if clash:
                    what = "masks" if segmentation else "labels"
                    finding = error(
                        "duplicate", "label_conflict", f"the same bytes as {shown}{more}, with other {what}"
                    )
                else:
                    finding = warning("duplicate", "exact", f"the same bytes as {shown}{more}")
                findings[index] = finding
                if position > SHOWN:
                    past_head = finding
        for index, other in near_conflicts.items():
            findings.setdefault(
                index,
                warning(
                    "duplicate",
                    "near_label_conflict",
                    f"looks like {named(samples.get(other), segmentation)}, which has another"
                    f" {'mask' if segmentation else 'label'} (perceptual hashes at most {NEAR_DISTANCE} bits apart)",
                ),
            )
        self.counts = {
            "exact_groups": len(groups),
            "exact_samples": len(members),
            "exact_conflicting_groups": int(conflicts),
            "near_samples": len(near),
            "near_conflicting_samples": len(near_conflicts),
            "near_distance": NEAR_DISTANCE,
        }
        return findings

    def summary(self, class_names: list[str] | None) -> dict[str, Any]:
        return self.counts
