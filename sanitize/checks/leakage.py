"""leakage (dataset-wide): training samples that are in a validation set (`--against VAL`).

A validation score only measures generalisation on images the net never trained on; a training
image whose bytes are in the validation set is an error, one that is a near duplicate of a
validation image (re-encoded, resized: perceptual hashes at most NEAR_DISTANCE bits apart) a
warning. Such leaks are common in scraped data (Barz and Denzler 2020: 3.3% of CIFAR-10's test
images, 10% of CIFAR-100's, have a duplicate in the training set).

The validation sets are hashed, not checked: each file is read and decoded once on the client,
by a few threads, at the verdict (load.fingerprint), and kept as 16 bytes a file (digest and
perceptual hash); a file the paths check would refuse is not read. To check a validation set
too, scan it.

Memory: the training samples' hashes wait on disk and are compared with the validation files'
one partition at a time (checks.hashparts), so it does not grow with the training set; the
validation files' hashes (16 bytes a file, and their numbers while the verdict is made) are held.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from sanitize.checks.duplicates import NEAR_DISTANCE, HashedSamples
from sanitize.checks.hashindex import bits_apart
from sanitize.checks.hashparts import ValueRanges, distinct, folded, marked, spilled_near_pairs, values_at
from sanitize.checks.kinds import SamplesOf
from sanitize.checks.paths import PathGuard
from sanitize.config import ScanConfig
from sanitize.datasets import Dataset
from sanitize.findings import Finding, error, warning
from sanitize.load.fingerprint import describe_pixels
from sanitize.model import CleanColumns, Sample, SampleResult
from sanitize.remote import ObjectRoot, normalized
from sanitize.storage import Spill

#: Validation files hashed per round of the thread pool.
ROUND = 1024


class Reference(NamedTuple):
    """The validation files, one entry each: digest, perceptual hash (0: none), which --against it
    came from and its index there."""

    digests: np.ndarray
    phashes: np.ndarray
    origin: np.ndarray
    index: np.ndarray


def _hash_one(sample: Sample, guard: PathGuard, config: ScanConfig) -> tuple[int, int]:
    from sanitize.load.image import load  # the decoders, only when there is a validation set

    if guard.image(sample):
        return 0, 0  # unsafe, missing, unreadable: never read
    loaded = load(sample, config, guard.objects, guard.store)
    try:
        describe_pixels([loaded])
    except Exception:  # noqa: BLE001 - an image that cannot be hashed is only compared by its bytes
        loaded.phash = 0
    return loaded.digest, loaded.phash


def _hashed(dataset: Dataset, config: ScanConfig) -> Iterator[tuple[int, int, int]]:
    """(index, digest, perceptual hash) of each of the dataset's files, hashed by a few threads."""
    root = dataset.root
    guard = PathGuard(
        ObjectRoot(normalized(str(root)), dataset.store) if dataset.store else Path(os.path.realpath(root))
    )
    samples = iter(dataset)
    with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
        while batch := list(islice(samples, ROUND)):
            hashes = pool.map(lambda sample: _hash_one(sample, guard, config), batch)
            for sample, (digest, phash) in zip(batch, hashes, strict=True):
                yield sample.index, digest, phash


def reference(datasets: tuple[Dataset, ...], config: ScanConfig) -> Reference:
    """Every file of the validation sets, hashed."""
    from sanitize.load.image import pillow_limits

    found = []
    with pillow_limits(config):
        for origin, dataset in enumerate(datasets):
            rows = np.array(list(_hashed(dataset, config)), dtype=np.int64).reshape(-1, 3)
            found.append((rows, np.full(len(rows), origin, dtype=np.int64)))
    rows = np.concatenate([rows for rows, _ in found]) if found else np.zeros((0, 3), np.int64)
    origin = np.concatenate([origin for _, origin in found]) if found else np.zeros(0, np.int64)
    return Reference(rows[:, 1].copy(), rows[:, 2].copy(), origin, rows[:, 0].copy())


class Leakage(HashedSamples):
    code = "leakage:exact"
    section = "leakage"

    # It always applies: whether there is a validation set is the input's; without one, nothing is kept.
    def add(self, results: list[SampleResult]) -> None:
        if self.against:
            super().add(results)

    def add_columns(self, clean: CleanColumns) -> None:
        if self.against:
            super().add_columns(clean)

    def _paths(self, ref: Reference, positions: set[int]) -> dict[int, str]:
        """The source and path of the validation files at these positions of `ref`."""
        wanted: dict[tuple[int, int], int] = {(int(ref.origin[p]), int(ref.index[p])): p for p in positions}
        paths = {}
        for origin, dataset in enumerate(self.against):
            for sample in dataset:
                position = wanted.get((origin, sample.index))
                if position is not None:
                    paths[position] = f"{dataset.source}: {sample.path}"
        return paths

    @staticmethod
    def _near(parts: list[Spill], ranges: ValueRanges, validation: np.ndarray) -> list[tuple[int, int, int]]:
        """(sample index, position of the closest validation hash, bits apart) of the training
        samples within NEAR_DISTANCE bits of a validation hash, in the order they came. Equal hashes
        are folded first (checks.duplicates does the same), so the index holds each value once; the
        training rows come in `parts` (checks.hashparts), the validation hashes join their partition."""
        part_of = ranges(validation)
        by_part = np.argsort(part_of, kind="stable")
        split = np.split(by_part, np.searchsorted(part_of[by_part], np.arange(1, len(parts))))
        extra = [validation[positions] for positions in split]
        values = distinct(parts, "phash", extra)
        pairs = spilled_near_pairs(values, NEAR_DISTANCE)
        validation_numbers = np.empty(len(validation), dtype=np.int64)
        for fold, positions in zip(folded(parts, "phash", extra), split, strict=True):
            validation_numbers[positions] = fold.numbers[len(fold.rows) :]
        in_validation = np.unique(validation_numbers)
        value_of = values_at(values, np.concatenate([in_validation, pairs.ravel()]))
        closest = {number: (number, 0) for number in in_validation.tolist() if value_of[number]}
        validated = set(in_validation.tolist())
        for a, b in pairs.tolist():  # (value number, validation value number, bits apart)
            for this, other in ((a, b), (b, a)):
                distance = bits_apart(value_of[this], value_of[other])
                if other in validated and distance < closest.get(this, (0, NEAR_DISTANCE + 1))[1]:
                    closest[this] = (other, distance)
        first_of: dict[int, int] = {}  # validation value number -> its first validation file
        for position, number in enumerate(validation_numbers.tolist()):
            first_of.setdefault(number, position)
        wanted = np.sort(np.fromiter(closest, dtype=np.int64, count=len(closest)))
        hits = []
        for fold in folded(parts, "phash", extra):
            trained = fold.numbers[: len(fold.rows)]
            hit = marked(fold, wanted)[trained - fold.first]
            rows = fold.rows[hit]
            hits.extend(zip(rows["position"].tolist(), rows["index"].tolist(), trained[hit].tolist(), strict=True))
        return [(index, first_of[closest[n][0]], closest[n][1]) for _, index, n in sorted(hits)]

    def verdict(self, samples_of: SamplesOf | None = None) -> dict[int, Finding]:
        if not self.against:
            return {}
        ref = reference(self.against, self.config)
        known = np.flatnonzero(ref.digests != 0)
        known = known[np.argsort(ref.digests[known])]
        sorted_digests = ref.digests[known]
        exact: list[tuple[int, int]] = []  # (sample index, validation position), in the order they came

        def judged(chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
            """The rows with a perceptual hash, those whose bytes are in a validation set noted and
            left out (0 is no hash, never near: left out so that it does not fill one partition)."""
            for rows in chunks:
                if len(sorted_digests):
                    slots = np.searchsorted(sorted_digests, rows["digest"]).clip(max=len(sorted_digests) - 1)
                    same = (rows["digest"] != 0) & (sorted_digests[slots] == rows["digest"])
                    exact.extend(zip(rows["index"][same].tolist(), known[slots[same]].tolist(), strict=True))
                    rows["phash"][same] = 0
                yield rows[rows["phash"] != 0]

        near = self._near(*self.partitions(judged(self.placed()), "phash", ref.phashes), ref.phashes)
        paths = self._paths(ref, {other for _, other in exact} | {other for _, other, _ in near})
        findings: dict[int, Finding] = {}
        for index, other in exact:
            findings[index] = error("leakage", "exact", f"the same bytes as {paths[other]}")
        for index, other, distance in near:
            findings[index] = warning(
                "leakage", "near", f"looks like {paths[other]} (perceptual hashes {distance} bits apart)"
            )
        self.counts = {
            "against": [str(dataset.source) for dataset in self.against],
            "validation_files": len(ref.digests),
            "validation_unread": int(np.count_nonzero(ref.digests == 0)),
            "exact": len(exact),
            "near": len(near),
            "near_distance": NEAR_DISTANCE,
        }
        return findings

    def summary(self, class_names: list[str] | None) -> dict[str, Any] | None:
        return self.counts or None
