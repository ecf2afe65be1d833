"""Finding equal and nearly equal 64-bit hashes among millions, without comparing all pairs.

Exact: sort, and keep the values that occur more than once. Near (Hamming distance at most d):
a multi-index (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with Multi-Index
Hashing", CVPR 2012). The 64 bits are cut into m = ceil((d + 1) / 2) chunks; two hashes at most
d bits apart differ in at most one bit of at least one chunk (pigeonhole: two bits in each
would be 2m > d), so they agree on that chunk once one of its bits is cleared in both. Sorting
by each chunk with each of its bits cleared in turn (64 sorts in all, whatever d) brings every
such pair next to each other in a run of equal keys, and only pairs inside a run are compared:
nothing is missed, and with 21-bit chunks (d = 4 or 5) a run holds about 2n / 2^21 hashes, a
handful for ten million. The cost is the 64 sorts, O(n log n); everything is numpy, run length
by run length ("lag"), with no Python loop per sample or per run. Memory, besides the hashes
(8 bytes each): while one key is sorted, the key, its order and the hashes in that order (24
bytes each); see docs/checks.md for the figures measured. The checks run it one partition of the
hashes at a time (checks.hashparts), so that those hashes are never all in memory at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np


def repeated(values: np.ndarray) -> np.ndarray:
    """The distinct values of `values` that occur more than once, sorted (0 stands for none and
    is left out). Sorts `values` in place: pass a buffer of your own."""
    values.sort()
    twice = values[1:][values[1:] == values[:-1]]
    return np.unique(twice[twice != 0])


def bits_apart(a: int, b: int) -> int:
    """The Hamming distance of two 64-bit hashes (signed integers)."""
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


def chunks(distance: int) -> list[tuple[int, int]]:
    """(shift, width) of the ceil((distance + 1) / 2) near-equal chunks the 64 bits are cut into."""
    edges = np.linspace(0, 64, math.ceil((distance + 1) / 2) + 1).astype(int)
    return [(int(low), int(high - low)) for low, high in itertools.pairwise(edges.tolist())]


def _runs_pairs(keys: np.ndarray, bits: np.ndarray, distance: int) -> list[np.ndarray]:
    """The pairs (positions) at most `distance` bits apart among hashes with equal keys. The keys
    are sorted with their positions in the low half of one 64-bit value: numpy sorts plain values
    three times faster than it argsorts (1.2 against 3.3 ms for 300,000 keys), and the order of
    equal keys makes no difference to the pairs found. (A position takes 32 bits: the checks search
    one partition of at most a few million hashes at a time.)"""
    if len(keys) >= 1 << 32:
        raise ValueError(f"{len(keys):,} hashes in one search: positions would not fit in 32 bits")
    tagged = keys.astype(np.uint64) << np.uint64(32) | np.arange(len(keys), dtype=np.uint64)
    tagged.sort()
    order = (tagged & np.uint64(0xFFFF_FFFF)).astype(np.intp)
    keys = (tagged >> np.uint64(32)).astype(np.uint32)
    ordered = bits[order]
    found = []
    lag = 1
    active = np.flatnonzero(keys[1:] == keys[:-1])
    while active.size:
        hits = active[np.bitwise_count(ordered[active] ^ ordered[active + lag]) <= distance]
        if hits.size:
            found.append(np.sort(np.stack([order[hits], order[hits + lag]], axis=1), axis=1))
        lag += 1
        active = active[active + lag < len(keys)]
        active = active[keys[active] == keys[active + lag]]
    return found


def key_pairs(bits: np.ndarray, distance: int, shift: int, width: int, cleared: Iterable[int]) -> list[np.ndarray]:
    """The pairs (positions in `bits`, uint64) at most `distance` bits apart whose chunk (`shift`,
    `width`) is equal once one of the `cleared` bits is cleared in both: one key sorted per bit."""
    chunk = ((bits >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.uint32)
    found = []
    for bit in cleared:
        found.extend(_runs_pairs(chunk & np.uint32(~(1 << bit) & 0xFFFFFFFF), bits, distance))
    return found


def near_pairs(hashes: np.ndarray, distance: int) -> np.ndarray:
    """Every pair (i, j), i < j, of positions in `hashes` (int64; 0: none, never paired) whose
    hashes differ in at most `distance` bits, as an (n, 2) int64 array, sorted and unique."""
    positions = np.flatnonzero(hashes)
    bits = hashes[positions].view(np.uint64)
    found: list[np.ndarray] = []
    for shift, width in chunks(distance):
        found.extend(key_pairs(bits, distance, shift, width, range(width)))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return positions[np.unique(np.concatenate(found), axis=0)]
