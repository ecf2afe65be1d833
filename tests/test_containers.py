"""Container inputs end to end: Caffe LMDBs and WebDataset tar shards written here from scratch,
with bad records of each kind, scanned through the real pipeline and the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import sanitize
from sanitize.datasets.webdataset import expand_braces, split_key
from sanitize.errors import SanitizeError
from tests.conftest import cli_env, png_chunk, run_cli
from tests.container_helpers import encode_datum, image_bytes, write_lmdb, write_shard

PNG, JPEG = image_bytes("PNG"), image_bytes("JPEG")
NAN = float("nan")

#: key -> (record, the codes its scan must give; () for a clean record)
LMDB_RECORDS: dict[bytes, tuple[bytes, tuple[str, ...]]] = {
    b"00000000_ok.jpg": (encode_datum(3, 20, 24, JPEG, 1, encoded=True), ()),
    b"00000001_raw": (encode_datum(3, 4, 5, bytes(range(60)), 2), ()),
    b"00000002_float": (encode_datum(1, 2, 2, floats=(0.5, 1, 2, 3), packed=True), ()),
    b"00000003_short_raw": (encode_datum(3, 4, 5, bytes(59), 2), ("container:raw_size",)),
    b"00000004_no_shape": (encode_datum(0, 0, 0, bytes(3), 2), ("container:raw_size",)),
    b"00000005_nan": (encode_datum(1, 2, 2, floats=(1, NAN, 2, float("inf"))), ("finite:nonfinite",)),
    b"00000006_json": (b'{"label": 1, "path": "x.jpg"}', ("container:not_a_datum",)),
    b"00000007_label": (encode_datum(3, 20, 24, PNG, 9, encoded=True), ("label:out_of_range",)),
    b"00000008_negative": (encode_datum(3, 20, 24, PNG, -3, encoded=True), ("label:out_of_range",)),
    b"00000009_truncated": (encode_datum(3, 20, 24, JPEG[:300], 1, encoded=True), ("decode:corrupt_data",)),
    b"00000010_html": (
        encode_datum(3, 1, 1, b"<html><body>404</body></html>", 1, encoded=True),
        ("format:not_an_image",),
    ),
    b"00000011_ignored": (encode_datum(3, 20, 24, PNG, 255, encoded=True), ()),
}


def _codes(report: sanitize.Report) -> dict[str, set[str]]:
    return {r.path: {f.name for f in r.findings if f.is_error} for r in report.flagged if r.has_error}


@pytest.fixture(scope="module")
def caffe_lmdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lmdb(tmp_path_factory.mktemp("lmdb") / "train_lmdb", {k: v for k, (v, _) in LMDB_RECORDS.items()})


def test_lmdb_scan_finds_every_bad_record_by_its_key(caffe_lmdb: Path) -> None:
    report = sanitize.scan(caffe_lmdb, num_classes=3, ignore_label=255, scheduler="synchronous")
    expected = {key.decode(): set(codes) for key, (_, codes) in LMDB_RECORDS.items() if codes}
    found = _codes(report)
    assert {path: codes & expected.get(path, set()) for path, codes in found.items()} == expected
    assert report.summary.samples.scanned == len(LMDB_RECORDS)
    assert report.summary.dataset.kind == "lmdb"
    assert report.summary.classes.counts == {"0": 2, "1": 3, "2": 3}  # the Datums' labels


def test_an_lmdb_record_over_max_file_bytes_is_not_read(tmp_path: Path) -> None:
    """A record is held to --max-file-bytes as a file is, judged on its mapped length before a copy."""
    big = encode_datum(3, 20, 24, image_bytes("PNG", size=(200, 200), seed=1), 1, encoded=True)
    small = encode_datum(3, 20, 24, JPEG, 1, encoded=True)
    folder = write_lmdb(tmp_path / "lmdb", {b"big": big, b"small": small})
    report = sanitize.scan(folder, num_classes=3, max_file_bytes=len(big) - 1, scheduler="synchronous")
    assert _codes(report) == {"big": {"decode:too_large"}}
    (flagged,) = report.flagged
    assert f"{len(big):,} bytes" in flagged.findings[0].message


def test_lmdb_is_read_without_a_lock_file_on_a_read_only_folder(caffe_lmdb: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "data.mdb").write_bytes((caffe_lmdb / "data.mdb").read_bytes())
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        report = sanitize.scan(folder, num_classes=3, ignore_label=255, workers=2)
    finally:
        folder.chmod(stat.S_IRWXU)
    assert report.summary.samples.scanned == len(LMDB_RECORDS)
    assert set(_codes(report)) == {key.decode() for key, (_, codes) in LMDB_RECORDS.items() if codes}
    assert sorted(os.listdir(folder)) == ["data.mdb"]


def test_a_folder_with_a_broken_data_mdb_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "data.mdb").write_bytes(b"not an lmdb" * 100)
    with pytest.raises(SanitizeError, match="cannot open the LMDB"):
        sanitize.scan(tmp_path / "db", num_classes=3)


def _data_end(shard: Path, member: str) -> int:
    """Where `member`'s data ends in the shard (before its padding)."""
    with tarfile.open(shard) as tar:
        info = tar.getmember(member)
        return info.offset_data + info.size


def _shards(folder: Path) -> Path:
    """Three shards: one of every kind of bad sample, one clean, one truncated in its second sample;
    every image different (the same one under two labels would be a duplicate:label_conflict)."""
    write_shard(
        folder / "train-000000.tar",
        [
            ("n01/ok.jpg", image_bytes("JPEG", seed=100)),
            ("n01/ok.cls", b"1"),
            ("n01/ok.json", b"{}"),
            ("png_as_jpg.jpg", image_bytes("PNG", seed=101)),
            ("png_as_jpg.cls", b"0"),
            ("garbage.png", b"GARBAGE" * 20),
            ("garbage.cls", b"2"),
            ("nolabel.webp", image_bytes("WEBP")),
            ("float.png", image_bytes("PNG", seed=102)),
            ("float.cls", b"1.5"),
            ("big.jpg", image_bytes("JPEG", seed=103)),
            ("big.cls", b" 3\n"),
            ("textonly.txt", b"caption"),
            ("textonly.cls", b"1"),
        ],
    )
    kinds = (("PNG", 104), ("JPEG", 105), ("JPEG", 106), ("JPEG", 107))
    a, b, c, d = (image_bytes(kind, seed=seed) for kind, seed in kinds)
    write_shard(folder / "train-000001.tar", [("a.png", a), ("a.cls", b"2"), ("b.jpeg", b), ("b.cls", b"0")])
    truncated = write_shard(folder / "train-000002.tar", [("c.jpg", c), ("c.cls", b"1"), ("d.jpg", d), ("d.cls", b"1")])
    truncated.write_bytes(truncated.read_bytes()[: _data_end(truncated, "d.jpg") - 100])  # inside d.jpg
    return folder


SHARD_FINDINGS = {
    "train-000000.tar/png_as_jpg": {"format:extension_mismatch"},
    "train-000000.tar/garbage": {"format:not_an_image"},
    "train-000000.tar/nolabel": {"label:missing"},
    "train-000000.tar/float": {"label:not_integer"},
    "train-000000.tar/big": {"label:out_of_range"},
    "train-000000.tar/textonly": {"container:no_image"},
    "train-000002.tar/d": {"container:corrupt_shard", "label:missing"},  # its cls member is cut off too
    "train-000002.tar": {"container:corrupt_shard"},
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _shards(tmp_path_factory.mktemp("wds") / "shards")


@pytest.mark.parametrize(
    "source",
    ["train-{000000..000002}.tar", "train-*.tar", "."],
    ids=["braces", "glob", "folder"],
)
def test_webdataset_scan_finds_every_bad_sample_and_goes_past_a_truncated_shard(shards: Path, source: str) -> None:
    report = sanitize.scan(str(shards / source), num_classes=3, scheduler="synchronous")
    assert _codes(report) == SHARD_FINDINGS
    assert report.summary.samples.scanned == 12  # 7 + 2 + c, d and the truncated shard itself
    assert report.summary.dataset.kind == "webdataset"


def test_a_single_shard_and_a_label_in_a_json_member(tmp_path: Path) -> None:
    shard = write_shard(
        tmp_path / "one.tar",
        [
            ("x.jpg", JPEG),
            ("x.json", b'{"class": 2}'),
            ("y.jpg", JPEG),
            ("y.json", b'{"other": 1}'),
            ("z.jpg", JPEG),
            ("z.json", b"not json"),
        ],
    )
    report = sanitize.scan(shard, num_classes=3, label_member="json", label_field="class", scheduler="synchronous")
    assert _codes(report) == {"one.tar/y": {"label:not_integer"}, "one.tar/z": {"label:not_integer"}}
    assert report.summary.classes.counts["2"] == 1


#: Where the second test shard's last member's data ends (asserted below).
_CUT = 512 * 5 + 1 + -(-100 // 512) * 512 + -(-len(PNG) // 512) * 512


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: b"\x01" * 600 + data, "bad checksum|invalid header|truncated header"),
        (lambda data: data[:1024] + b"X" * 512 + data[1536:], "not a tar header at byte"),
        (lambda data: data[: -(-_CUT // 512) * 512], "without an end-of-archive block"),
    ],
    ids=["not-a-tar", "overwritten-header", "cut-between-members"],
)
def test_a_corrupt_shard_is_an_error_on_the_shard_and_the_others_are_checked(tmp_path: Path, damage, message) -> None:
    write_shard(tmp_path / "s-0.tar", [("a.png", image_bytes("PNG", seed=1)), ("a.cls", b"1")])  # not c.png
    bad = write_shard(tmp_path / "s-1.tar", [("b.png", PNG[:100]), ("b.cls", b"1"), ("c.png", PNG), ("c.cls", b"1")])
    assert _data_end(bad, "c.cls") == _CUT
    bad.write_bytes(damage(bad.read_bytes()))
    report = sanitize.scan(str(tmp_path / "s-{0..1}.tar"), num_classes=3, scheduler="synchronous")
    shard = next(r for r in report.flagged if r.path == "s-1.tar")
    assert [f.name for f in shard.findings] == ["container:corrupt_shard"]
    assert re.search(message, shard.findings[0].message), shard.findings[0].message
    assert "s-0.tar/a" not in {r.path for r in report.flagged}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("a-{000..002}.tar", ["a-000.tar", "a-001.tar", "a-002.tar"]),
        ("a-{8..10}.tar", ["a-8.tar", "a-9.tar", "a-10.tar"]),
        ("{x,y}-{0..1}.tar", ["x-0.tar", "x-1.tar", "y-0.tar", "y-1.tar"]),
        ("plain.tar", ["plain.tar"]),
    ],
)
def test_brace_expansion(pattern: str, expected: list[str]) -> None:
    assert expand_braces(pattern) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a/b/key.seg.png", ("a/b/key", "seg.png")), ("key.CLS", ("key", "cls")), ("dir.v2/key", ("dir.v2/key", ""))],
)
def test_webdataset_keys(name: str, expected: tuple[str, str]) -> None:
    assert split_key(name) == expected


def test_cli_scans_shards_and_refuses_to_quarantine_them(shards: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    scanned = run_cli("scan", shards / "train-{000000..000002}.tar", "--num-classes", "3", "--out", out)
    assert scanned.returncode == 1, scanned.stderr
    records = [json.loads(line) for line in (out / "findings.jsonl").read_text().splitlines()]
    assert {r["path"] for r in records if any(f["severity"] == "error" for f in r["findings"])} == set(SHARD_FINDINGS)
    refused = run_cli("quarantine", out, "--to", tmp_path / "q")
    assert refused.returncode == 2
    assert "WebDataset tar shards is not supported" in refused.stderr and "Traceback" not in refused.stderr
    assert sorted(p.name for p in shards.iterdir()) == [f"train-00000{i}.tar" for i in range(3)]


def test_missing_shards_are_one_clear_error(tmp_path: Path) -> None:
    write_shard(tmp_path / "s-0.tar", [("a.png", PNG)])
    result = run_cli("scan", tmp_path / "s-{0..3}.tar", "--num-classes", "3")
    assert result.returncode == 2
    assert "shard not found" in result.stderr and "(and 2 more)" in result.stderr and "Traceback" not in result.stderr


#: The child's own peak RSS (VmHWM, in KiB): ru_maxrss would start from the RSS of the test process
#: at the fork that made the child, which grows with the tests run before this one.
_PEAK_HEAP = """
import sys
import tracemalloc
import sanitize
tracemalloc.start()
report = sanitize.scan(sys.argv[1], num_classes=2, workers=2)
assert report.summary.samples.scanned == int(sys.argv[2]) and report.valid, report.summary.samples
print(tracemalloc.get_traced_memory()[1] // 1024)
"""


def _peak_heap_kib(folder: Path, samples: int) -> int:
    """The peak of the Python heap (numpy's arrays included: they report to tracemalloc) of a
    process scanning `samples` samples in shards of 2,000 (on a local cluster: over the fork
    limit), in KiB. The heap, not the RSS: the RSS also holds what the allocator keeps of freed
    batches, which varies from run to run by more than the difference looked for."""
    png = image_bytes("PNG", (32, 32))  # 3 KB of noise: holding every sample's bytes would be 60 MB

    def distinct(number: int) -> bytes:  # the same pixels, other bytes (a text chunk): no duplicate:exact
        return png[:-12] + png_chunk(b"tEXt", b"n\0" + str(number).encode()) + png[-12:]

    per_shard = 2_000
    for shard in range(samples // per_shard):
        members = [
            (f"k{i:06d}.{ext}", data)
            for i in range(per_shard)
            for ext, data in (("png", distinct(shard * per_shard + i)), ("cls", b"1"))
        ]
        write_shard(folder / f"m-{shard:02d}.tar", members)
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_HEAP, str(folder), str(samples)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_a_shard_set_streams_in_bounded_client_memory(tmp_path: Path) -> None:
    """The client (listing, batching, collecting; the checks run on a local cluster's workers) must
    not hold the samples. From 20,000 to 60,000 samples its heap's peak grows by about 7 MiB of
    constants it reaches on the way (batches of up to batching.MAX_BATCH samples in flight, the
    dataset-wide verdicts' partitions of up to 65,536 rows: checks.hashparts), measured 44-45 and
    51 MiB (2026-11-29), and a little more on a busy machine, where batches are cut at other
    sizes; the 40,000 more listed Samples held in memory would add about 22 MiB to that."""
    small = _peak_heap_kib(tmp_path / "small", 20_000)
    large = _peak_heap_kib(tmp_path / "large", 60_000)
    assert large - small < 16 * 1024, (small, large)


@pytest.mark.parametrize("container", ["lmdb", "shards"])
def test_audits_refuse_to_hash_containers(caffe_lmdb: Path, shards: Path, tmp_path: Path, container: str) -> None:
    source = caffe_lmdb if container == "lmdb" else str(shards / "train-*.tar")
    with pytest.raises(SanitizeError, match="--verify-hashes is not supported for an LMDB or tar shards"):
        sanitize.audit(source, tmp_path / "b.sqlite", num_classes=3, verify_hashes=True)


def test_an_lmdb_audit_reuses_results_with_the_labels_of_the_records(caffe_lmdb: Path, tmp_path: Path) -> None:
    """Reused results keep each record's own label, judged again under this audit's options; a write to
    the database changes every record's identity (the file's size and mtime), so all are checked again."""
    db = tmp_path / "lmdb.sqlite"
    options = {"ignore_label": 255, "scheduler": "synchronous"}
    first = sanitize.audit(caffe_lmdb, db, num_classes=3, **options)
    again = sanitize.audit(caffe_lmdb, db, num_classes=3, **options)
    assert (again.checked, again.reused) == (0, len(LMDB_RECORDS))
    assert _codes(again.report) == _codes(first.report)
    assert again.report.summary.classes.counts == first.report.summary.classes.counts == {"0": 2, "1": 3, "2": 3}
    fewer = sanitize.audit(caffe_lmdb, db, num_classes=2, **options)  # labels 2 are out of range now
    out_of_range = {path for path, codes in _codes(fewer.report).items() if "label:out_of_range" in codes}
    assert out_of_range == {
        "00000001_raw",
        "00000003_short_raw",
        "00000004_no_shape",
        "00000007_label",
        "00000008_negative",
    }
    copy = tmp_path / "copy_lmdb"
    shutil.copytree(caffe_lmdb, copy)
    sanitize.audit(copy, tmp_path / "copy.sqlite", num_classes=3, **options)
    os.utime(copy / "data.mdb", ns=(1, 1))  # what any write does to the identity of every record
    changed = sanitize.audit(copy, tmp_path / "copy.sqlite", num_classes=3, **options)
    assert (changed.checked, changed.reused) == (len(LMDB_RECORDS), 0)


def test_a_second_audit_of_shards_reuses_every_result(shards: Path, tmp_path: Path) -> None:
    first = sanitize.audit(str(shards / "train-*.tar"), tmp_path / "c.sqlite", num_classes=3, scheduler="synchronous")
    again = sanitize.audit(str(shards / "train-*.tar"), tmp_path / "c.sqlite", num_classes=3, scheduler="synchronous")
    assert (again.checked, again.reused) == (0, 12)
    assert _codes(again.report) == _codes(first.report) == SHARD_FINDINGS
