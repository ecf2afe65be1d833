"""sanitize.scan end to end: report files, counts, clean list, and the real Dask cluster."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import sanitize
from tests.conftest import float_tiff_bytes, jpeg_bytes, png_bytes


@pytest.fixture
def listed_dataset(tmp_path: Path) -> Path:
    """A Caffe list file mixing clean samples with one of most problems."""
    images = tmp_path / "images"
    images.mkdir()
    lines = []
    for i in range(12):
        (images / f"ok {i}.jpg").write_bytes(jpeg_bytes(seed=i))
        lines.append(f"images/ok {i}.jpg {i % 3}")
    data = jpeg_bytes(seed=99)
    (images / "cut.jpg").write_bytes(data[: len(data) // 2])
    (images / "page.jpg").write_bytes(b"<html><body>captive portal</body></html>")
    (images / "nan.tif").write_bytes(float_tiff_bytes(np.full((8, 8), np.nan)))
    (tmp_path / "outside.jpg").write_bytes(jpeg_bytes())
    lines += [
        "images/cut.jpg 0",
        "images/page.jpg 1",
        "images/nan.tif 2",
        "../outside.jpg 0",
        "images/missing.jpg 1",
        "images/ok 0.jpg 3.7",
        "images/ok 1.jpg 3",
        "images/ok 2.jpg 255",
    ]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "train.txt"


def test_scan_reports_every_problem_and_writes_the_report(listed_dataset, tmp_path):
    out = tmp_path / "report"
    report = sanitize.scan(listed_dataset, num_classes=3, ignore_label=255, scheduler="synchronous", out=out)
    by_path = {r.path: {f"{f.check}:{f.code}" for f in r.findings} for r in report.flagged}
    assert by_path["images/cut.jpg"] == {"decode:corrupt_data"}
    assert by_path["images/page.jpg"] == {"format:not_an_image"}
    assert {"finite:nonfinite", "probe:nonfinite_loss"} <= by_path["images/nan.tif"]
    assert by_path["../outside.jpg"] == {"paths:outside_root"}
    assert by_path["images/missing.jpg"] == {"paths:missing"}
    # each listed twice (the same file under two entries: duplicate:exact), once with a bad label
    assert by_path["images/ok 0.jpg"] == {"label:not_integer", "duplicate:exact"}
    assert by_path["images/ok 1.jpg"] == {"label:out_of_range", "duplicate:exact"}
    assert by_path["images/ok 2.jpg"] == {"duplicate:exact"}  # the ignore label is valid
    assert not report.valid
    assert report.error_count == 7
    assert report.exit_code() == 1 and report.exit_code(max_errors=7) == 0

    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"]["listed"] == summary["samples"]["scanned"] == 20
    assert summary["samples"]["with_errors"] == 7
    assert summary["findings"]["paths:missing"]["samples"] == 1
    assert summary["classes"]["ignored"] == 1
    assert summary["config"]["num_classes"] == 3
    assert "simplejpeg" in summary["versions"]

    records = [json.loads(line) for line in (out / "findings.jsonl").read_text().splitlines()]
    assert [r["path"] for r in records] == [r.path for r in report.flagged]
    assert records[0]["findings"][0].keys() == {"check", "code", "severity", "message"}

    clean = (out / "clean.txt").read_text().splitlines()
    assert len(clean) == 13
    assert "images/ok 2.jpg 255" in clean and "images/ok 5.jpg 2" in clean
    assert not any(line.startswith(("images/cut.jpg", "../outside.jpg")) for line in clean)


def test_clean_imagefolder_is_valid_and_counts_classes(tmp_path):
    for cls in ("a", "b", "c"):
        (tmp_path / cls).mkdir()
    for i in range(4):
        (tmp_path / "a" / f"{i}.jpg").write_bytes(jpeg_bytes(seed=i))
        (tmp_path / "b" / f"{i}.png").write_bytes(png_bytes())
    report = sanitize.scan(tmp_path, scheduler="synchronous")
    assert report.valid and report.exit_code() == 0
    assert report.summary.classes.counts == {"a": 4, "b": 4, "c": 0}
    assert report.summary.classes.empty == ["c"]
    assert [s.path for s in report.clean_samples()][:2] == ["a/0.jpg", "a/1.jpg"]
    assert report.summary.probe.loss.count == 8


def test_list_input_requires_num_classes(listed_dataset):
    with pytest.raises(sanitize.SanitizeError, match="--num-classes is required"):
        sanitize.scan(listed_dataset, scheduler="synchronous")


def test_progress_is_reported(listed_dataset):
    seen = []
    sanitize.scan(listed_dataset, num_classes=3, scheduler="synchronous", on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (20, 20)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_local_cluster_gives_the_same_results(listed_dataset, tmp_path):
    """The real distributed.LocalCluster path: same findings as in-process checking."""
    inline = sanitize.scan(listed_dataset, num_classes=3, ignore_label=255, scheduler="synchronous")
    clustered = sanitize.scan(listed_dataset, num_classes=3, ignore_label=255, workers=2)
    assert [(r.path, r.findings) for r in clustered.flagged] == [(r.path, r.findings) for r in inline.flagged]
    assert clustered.summary.samples == inline.summary.samples


def test_more_classes_than_folders_names_the_extra_classes_by_index(tmp_path):
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.jpg").write_bytes(jpeg_bytes())
    report = sanitize.scan(tmp_path, num_classes=3, scheduler="synchronous")
    assert report.summary.classes.counts == {"only": 1, "1": 0, "2": 0}
    assert report.summary.classes.empty == ["1", "2"]


def test_a_failing_probe_leaves_its_samples_unvetted_not_the_scan_stopped(listed_dataset):
    """A probe that cannot run (here: a layer of 1e6 x 2e5 weights, which numpy refuses to
    allocate) is an error for every sample it should have vetted; the scan still finishes."""
    report = sanitize.scan(listed_dataset, num_classes=200_000, scheduler="synchronous", probe_grid=600)
    failed = [r.path for r in report.flagged if any(f.code == "probe_failed" for f in r.findings)]
    assert "images/ok 3.jpg" in failed and len(failed) >= 12
    assert report.summary.samples.scanned == 20
    assert sum(1 for _ in report.clean_samples()) == 0  # nothing unvetted counts as clean


@pytest.mark.parametrize("change", ["append", "insert"])
def test_a_list_that_changes_during_the_scan_does_not_change_what_the_report_says(listed_dataset, change):
    """clean.txt and the report are about the samples the scan drew: a line appended or inserted
    once they were drawn (here as the last batch comes back) is not put in clean.txt unchecked,
    and errors stay on the samples that have them, not on whatever now has their position."""
    original = listed_dataset.read_text()
    (listed_dataset.parent / "images" / "late.jpg").write_bytes(jpeg_bytes(seed=5))

    def edit_when_all_are_drawn(done, total):
        if done == total:  # saved as editors and sync tools save: a new file renamed over the list
            late = "images/late.jpg 0\n"
            edited = listed_dataset.with_name("edited.txt")
            edited.write_text(original + late if change == "append" else late + original)
            os.replace(edited, listed_dataset)

    report = sanitize.scan(
        listed_dataset, num_classes=3, ignore_label=255, scheduler="synchronous", on_progress=edit_when_all_are_drawn
    )
    assert listed_dataset.read_text() != original  # the list did change before the report was made
    assert report.summary.samples.listed == report.summary.samples.scanned == 20 and report.error_count == 7
    clean = [line.rsplit(" ", 1)[0] for line in report.clean_lines()]
    assert clean == [f"images/ok {i}.jpg" for i in range(12)] + ["images/ok 2.jpg"]  # not late.jpg
    assert {r.path for r in report.flagged if r.has_error} == {
        "images/cut.jpg",
        "images/page.jpg",
        "images/nan.tif",
        "../outside.jpg",
        "images/missing.jpg",
        "images/ok 0.jpg",
        "images/ok 1.jpg",
    }


def test_a_nul_in_a_listed_path_is_a_missing_file_for_scan_and_audit(tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "train.txt").write_text("a.jpg 0\nb\x00.jpg 1\n")
    report = sanitize.scan(tmp_path / "train.txt", num_classes=2, scheduler="synchronous")
    assert [(r.path, [f.name for f in r.findings]) for r in report.flagged] == [("b\x00.jpg", ["paths:missing"])]
    audited = sanitize.audit(tmp_path / "train.txt", tmp_path / "a.sqlite", num_classes=2, scheduler="synchronous")
    assert audited.report.error_count == 1


def test_report_files_are_strict_json_even_without_a_scale_reference(tmp_path):
    """Fewer than 8 samples give no scale reference: null in summary.json, never a bare NaN."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(jpeg_bytes())
    sanitize.scan(tmp_path, out=tmp_path / "out", scheduler="synchronous", exclude=(tmp_path / "out",))

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    summary = json.loads((tmp_path / "out" / "summary.json").read_text(), parse_constant=refuse)
    assert summary["probe"]["scale"] == {"median_magnitude": None, "outlier_factor": None}
