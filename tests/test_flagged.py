"""The flagged samples' results are spilled as they arrive and read back in sample-index order
(report.flagged): the Sequence, the counts tallied as they arrive, and the client's memory."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sanitize.batch import check_batch
from sanitize.config import ScanConfig
from sanitize.datasets import ListedSamples
from sanitize.findings import error, warning
from sanitize.model import BatchResult, ImageInfo, Sample, SampleResult
from sanitize.report.files import findings_line, findings_lines
from sanitize.report.flagged import FlaggedResults, FlaggedTally, IndexSet
from sanitize.scan import Scan
from tests.conftest import png_bytes

MISMATCH = warning("format", "extension_mismatch", "a PNG named .jpg")
MISSING = error("paths", "missing", "no such file")
EXACT = warning("duplicate", "exact", "same bytes as a.png")
INFO = ImageInfo(format="PNG", decoder="pillow", width=8, height=6, size=120, mtime_ns=17)


def result(index: int, *findings, **fields) -> SampleResult:
    return SampleResult(index, f"img/{index}.jpg", "1", list(findings), INFO, **fields)


def sealed(results: list[SampleResult], added: dict | None = None) -> FlaggedResults:
    flagged = FlaggedResults()
    for each in results:
        flagged.append(each)
    flagged.seal()
    flagged.add_findings(added or {})
    return flagged


def test_results_appended_in_any_order_are_read_back_in_sample_index_order():
    arrived = [result(7, MISMATCH), result(2, MISSING), result(40, MISMATCH, MISSING), result(0, MISSING)]
    flagged = sealed(arrived)
    assert len(flagged) == 4
    assert [r.index for r in flagged] == [0, 2, 7, 40]
    assert [findings_line(r) for r in flagged] == [findings_line(r) for r in sorted(arrived, key=lambda r: r.index)]
    assert flagged[1].path == "img/2.jpg" and flagged[-1].index == 40
    assert [r.index for r in flagged[1:3]] == [2, 7]
    assert flagged.by_index(7).findings == [MISMATCH]
    with pytest.raises(IndexError):
        flagged[4]
    with pytest.raises(KeyError):
        flagged.by_index(3)
    assert [r.index for r in reversed(flagged)] == [40, 7, 2, 0]  # a Sequence: its mixins work


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"mask": "masks/1.png", "mask_info": None},  # never opened: read back as never opened
        {"mask": "masks/1.png", "mask_info": ImageInfo(format="PNG", size=3)},
        {"label": None},
    ],
    ids=["plain", "mask-unopened", "mask", "unlabelled"],
)
def test_a_result_reads_back_as_its_record(fields):
    original = replace(result(5, MISSING, MISMATCH), **fields)
    (back,) = sealed([original])
    assert (back.index, back.path, back.label, back.findings) == (5, original.path, original.label, original.findings)
    assert (back.info, back.mask, back.mask_info) == (original.info, original.mask, original.mask_info)
    assert findings_line(back) == findings_line(original)


def test_a_path_that_is_not_utf8_reads_back_unchanged():
    """os.fsdecode gives undecodable bytes of a file name as lone surrogates."""
    original = replace(result(1, MISSING), path="img/\udcff.jpg")
    (back,) = sealed([original])
    assert back.path == original.path


def test_findings_added_after_the_seal_follow_theirs_on_every_read():
    flagged = sealed([result(3, MISMATCH), result(9, MISSING)], added={3: [EXACT]})
    flagged.add_findings({3: [MISSING]})
    assert flagged.by_index(3).findings == [MISMATCH, EXACT, MISSING]
    assert flagged[0].findings == [MISMATCH, EXACT, MISSING]  # read again: not added twice
    assert flagged.by_index(9).findings == [MISSING]


def test_nothing_is_read_before_the_seal_nor_appended_after_it():
    flagged = FlaggedResults()
    flagged.append(result(1, MISSING))
    with pytest.raises(RuntimeError):
        flagged[0]
    flagged.seal()
    with pytest.raises(RuntimeError):
        flagged.append(result(2, MISSING))


@pytest.mark.parametrize(
    ("arrivals", "counts", "with_errors", "with_warnings", "error_indices"),
    [
        # three of four samples as examples, by sample index whatever the order they arrived in
        (
            [(9, [MISMATCH]), (4, [MISMATCH]), (1, [MISMATCH]), (6, [MISMATCH])],
            {"format:extension_mismatch": ("warning", 4, ["img/1.jpg", "img/4.jpg", "img/6.jpg"])},
            0,
            4,
            [],
        ),
        # a code twice in a sample counts one sample; errors come first
        (
            [(2, [MISMATCH, MISMATCH]), (5, [MISSING])],
            {"paths:missing": ("error", 1, ["img/5.jpg"]), "format:extension_mismatch": ("warning", 1, ["img/2.jpg"])},
            1,
            1,
            [5],
        ),
        # findings given later (a verdict's) to a sample counted already: new codes and states only
        (
            [(2, [MISMATCH]), (2, [EXACT, MISMATCH], [MISMATCH]), (2, [MISSING], [MISMATCH, EXACT])],
            {
                "paths:missing": ("error", 1, ["img/2.jpg"]),
                "duplicate:exact": ("warning", 1, ["img/2.jpg"]),
                "format:extension_mismatch": ("warning", 1, ["img/2.jpg"]),
            },
            1,
            1,
            [2],
        ),
    ],
    ids=["examples-by-index", "once-per-sample", "added-later"],
)
def test_the_tally_counts_as_results_arrive(arrivals, counts, with_errors, with_warnings, error_indices):
    tally = FlaggedTally()
    for index, findings, *before in arrivals:
        tally.add(index, f"img/{index}.jpg", findings, *before)
    found = {name: (c.severity, c.samples, c.examples) for name, c in tally.findings().items()}
    assert found == counts and list(found) == list(counts)
    assert (tally.with_errors, tally.with_warnings, tally.error_indices.tolist()) == (
        with_errors,
        with_warnings,
        error_indices,
    )


def _client_peak(folder: Path, samples: int, template: SampleResult) -> int:
    """The client's heap peak (tracemalloc) over a scan's collecting, finishing and writing of
    findings.jsonl, with every one of `samples` samples flagged: a list file of that many lines
    whose results are `template` (a real worker's result), as a cluster would send them back."""
    folder.mkdir()
    (folder / "train.txt").write_text("".join(f"d/{i:06d}.jpg 1\n" for i in range(samples)))
    run = Scan.start(folder / "train.txt", {"num_classes": 3, "allow_mismatch": True}, out=None, on_progress=None)
    run.listed = ListedSamples(run.dataset.root)
    tracemalloc.start()
    try:
        batch: list[SampleResult] = []
        for sample in run.listed.record(run.dataset):
            batch.append(replace(template, index=sample.index, path=sample.path, findings=list(template.findings)))
            if len(batch) == 1_000:
                run.add(BatchResult.of(batch))
                batch = []
        run.add(BatchResult.of(batch))
        report = run.finish("test")
        assert sum(1 for _ in findings_lines(report.flagged)) == report.summary.samples.with_warnings == samples
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_scan_with_many_flagged_samples_holds_them_on_disk_not_in_the_client(tmp_path: Path):
    """From 5,000 to 15,000 flagged samples, the client's heap peak grows by less than a quarter of
    what holding the 10,000 more results takes: it held them all until the end of the scan (about
    1 KB each when unpickled from workers, measured 2026-11-29), now 16 bytes each, the rest in a
    temporary file. Measured: +0.2 MB, against 3.2 MB to hold these results (their strings shared)."""
    (tmp_path / "a.jpg").write_bytes(png_bytes())  # a PNG named .jpg: a warning with allow_mismatch
    config = ScanConfig(num_classes=3, allow_mismatch=True)
    (template,) = check_batch([Sample.under(tmp_path, 0, "a.jpg", "1")], tmp_path, config).flagged
    template = replace(template, digest=0, phash=0)  # no duplicates: no verdict, whose findings are held
    assert [f.name for f in template.findings] == ["format:extension_mismatch"]
    _client_peak(tmp_path / "warm-up", 100, template)  # what the first scan of a process imports
    small = _client_peak(tmp_path / "small", 5_000, template)
    large = _client_peak(tmp_path / "large", 15_000, template)
    tracemalloc.start()
    held = [replace(template, index=i, path=f"d/{i:06d}.jpg", findings=list(template.findings)) for i in range(10_000)]
    holding = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(held) == 10_000
    assert large - small < holding / 4, (small, large, holding)


@pytest.mark.parametrize(
    "indices",
    [[], [0], [7, 8], [3, 1, 3, 200_000], list(range(0, 1_100_000, 997))],
    ids=["none", "zero", "a byte's edge", "unsorted, repeated", "past one slice of bits"],
)
def test_the_error_indices_are_a_set_of_a_bit_a_sample(indices):

    errors = IndexSet(np.array(indices, dtype=np.int64))
    assert errors == set(indices) and len(errors) == len(set(indices))
    assert list(errors) == sorted(set(indices))
    probes = {-1, 0, 1, 6, 7, 8, 9, 200_000, 200_001, 1_099_999, 5_000_000}
    assert {i for i in probes if i in errors} == probes & set(indices)
    assert "7" not in errors and 7.0 not in errors  # indices are ints


def test_a_negative_sample_index_is_refused():

    with pytest.raises(ValueError, match="never negative"):
        IndexSet(np.array([-3, 4]))


@pytest.mark.parametrize(
    ("probe", "expected"),
    [(np.int64(5), True), (np.uint32(5), True), (np.int64(6), False), (True, False), (5.0, False)],
    ids=["numpy int64", "numpy uint32", "numpy, absent", "bool", "float"],
)
def test_a_numpy_index_is_looked_up_as_its_int(probe, expected):
    # an index read from a numpy array (np.flatnonzero, a structured row) names the same sample
    # as its int: a Python set of ints answered so, and clean_samples must not let an error through

    assert (probe in IndexSet(np.array([5]))) is expected


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (lambda s: s | {9}, {3, 5, 9}),
        (lambda s: s - {3}, {5}),
        (lambda s: s & {5, 7}, {5}),
        (lambda s: s ^ {5, 7}, {3, 7}),
    ],
    ids=["union", "difference", "intersection", "symmetric difference"],
)
def test_the_error_indices_combine_as_a_set(operation, expected):
    # Report.error_indices was a set; a caller combining it with another set (the errors of an
    # earlier scan, say) still gets a set, not a TypeError from Set's mixins

    assert operation(IndexSet(np.array([3, 5]))) == expected


def test_the_error_indices_are_built_without_a_byte_a_sample():
    # a bit a sample is the point: building it must not first hold a byte per sample (a bool array
    # of 100M samples is 100 MB, eight times the set it makes)

    indices = np.array([0, 8_000_000, 8_000_001], dtype=np.int64)
    tracemalloc.start()
    errors = IndexSet(indices)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert list(errors) == [0, 8_000_000, 8_000_001]
    assert peak < 2_000_000, peak  # the bits themselves: 1 MB
