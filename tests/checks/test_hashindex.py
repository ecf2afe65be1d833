"""The hash index and the hashes: exact repeats, near pairs (checked against all pairs on data
where all pairs is cheap), the content digest and the perceptual hash."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from sanitize.checks.hashindex import bits_apart, chunks, near_pairs, repeated
from sanitize.load.fingerprint import content_digest, perceptual_hash, perceptual_hashes
from tests.conftest import textured_photo


def _all_pairs(hashes: np.ndarray, distance: int) -> set[tuple[int, int]]:
    return {
        (i, j)
        for i, j in itertools.combinations(range(len(hashes)), 2)
        if hashes[i] and hashes[j] and bits_apart(int(hashes[i]), int(hashes[j])) <= distance
    }


def _flipped(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return int(np.array(value & (2**64 - 1), dtype=np.uint64).view(np.int64))


@pytest.mark.parametrize("distance", [0, 1, 3, 5, 8])
def test_near_pairs_are_exactly_the_pairs_within_the_distance(distance):
    rng = np.random.default_rng(distance)
    base = rng.integers(-(2**63), 2**63 - 1, 300, dtype=np.int64)
    # planted neighbours at every distance up to distance + 2, bits spread over every chunk
    planted = [_flipped(int(base[k]), rng.choice(64, k % (distance + 3), replace=False).tolist()) for k in range(60)]
    hashes = np.concatenate([base, np.array(planted, dtype=np.int64), np.zeros(5, np.int64), base[:3]])
    found = {tuple(pair) for pair in near_pairs(hashes, distance).tolist()}
    assert found == _all_pairs(hashes, distance)
    assert any(bits_apart(int(hashes[i]), int(hashes[j])) == distance for i, j in found)


def test_chunks_cover_the_64_bits_and_leave_one_bit_of_slack_per_chunk():
    for distance in range(10):
        parts = chunks(distance)
        assert sum(width for _, width in parts) == 64 and 2 * len(parts) > distance
        assert [shift for shift, _ in parts] == list(itertools.accumulate([0] + [w for _, w in parts[:-1]]))


def test_repeated_keeps_values_seen_twice_and_never_zero():
    values = np.array([5, 3, 0, 5, 0, 9, 3, 3, -2], dtype=np.int64)
    assert repeated(values.copy()).tolist() == [3, 5]


def test_the_digest_is_of_the_bytes():
    assert content_digest(b"abc") == content_digest(bytearray(b"abc")) != content_digest(b"abd")
    assert content_digest(b"") != 0


def _decoded(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def test_the_perceptual_hash_survives_recompression_and_tells_pictures_apart():
    pictures = [textured_photo(seed) for seed in range(12)]
    hashes = [perceptual_hash(p) for p in pictures]
    assert all(bits_apart(perceptual_hash(_decoded(p, 60)), h) <= 4 for p, h in zip(pictures, hashes, strict=True))
    assert min(bits_apart(a, b) for a, b in itertools.combinations(hashes, 2)) > 10
    assert perceptual_hash(np.full((32, 32, 3), 7, np.uint8)) == 0  # flat: no hash
    assert perceptual_hash(None) == 0
    assert perceptual_hash(np.full((8, 8), np.nan, np.float32)) == 0


def test_a_batch_is_hashed_as_each_image_alone():
    """Images of one shape and dtype are hashed together (per image, numpy's fixed costs outweighed the
    arithmetic on small ones): every hash must be the one the image gets alone, flat and NaN ones too."""
    rng = np.random.default_rng(0)
    arrays: list[np.ndarray | None] = [None, np.zeros((0, 3), np.uint8)]
    for shape, dtype in itertools.product([(32, 32, 3), (8, 8), (375, 500, 3), (4, 40, 40)], [np.uint8, np.float32]):
        for _ in range(3):
            arrays.append((rng.random(shape) * 255).astype(dtype))
        arrays.append(np.full(shape, 7, dtype))  # flat: no hash
    arrays[-2] = arrays[-2].copy()
    arrays[-2].flat[0] = np.nan  # not finite: no hash
    hashes = perceptual_hashes(arrays)
    assert hashes == [perceptual_hash(array) for array in arrays]
    assert hashes[:2] == [0, 0] and hashes[-2:] == [0, 0] and all(hashes[2:5])
    assert len({h for h in hashes if h}) == len([h for h in hashes if h])  # random images: all distinct
