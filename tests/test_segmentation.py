"""Segmentation end to end: pairs list files and folder pairs through the real pipeline
(scheduler="synchronous"), the dataset-wide mask statistics, the per-pixel probe, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sanitize
from sanitize.checks.rare_value import RareValue
from sanitize.datasets import open_dataset
from sanitize.errors import SanitizeError
from sanitize.load.mask import region_values
from sanitize.probe.net import weights
from sanitize.probe.segment import pixel_loss
from tests.segmentation_helpers import (
    disc_mask,
    photo,
    resized,
    save,
    seg_config,
    square_mask,
    write_pair,
)

SYNC = {"scheduler": "synchronous"}


def flagged_codes(report) -> dict[str, set[str]]:
    return {r.path: {f"{f.check}:{f.code}" for f in r.findings} for r in report.flagged}


@pytest.fixture
def pairs_list(tmp_path):
    """A pairs list: two clean samples, then one broken mask of each kind."""
    clean = [write_pair(tmp_path, f"clean{i}", square_mask(value=1 + i % 2)) for i in range(2)]
    sixteen = square_mask(value=1, dtype=np.uint16)
    sixteen[0, :3] = 700
    broken = [
        write_pair(tmp_path, "sixteen", sixteen),
        write_pair(tmp_path, "ignored", np.full((48, 64), 255, np.uint8)),
        write_pair(tmp_path, "small", square_mask(24, 32), image=photo(48, 64)),
        write_pair(tmp_path, "lossy", disc_mask(2), mask_ext=".jpg"),
    ]
    (tmp_path / "train.txt").write_text("# image mask\n" + "".join(clean + broken))
    return tmp_path / "train.txt"


def test_pairs_list_is_recognised_and_each_broken_mask_is_reported(pairs_list, tmp_path):
    report = sanitize.scan(pairs_list, num_classes=3, out=tmp_path / "report", **SYNC)
    assert report.summary.dataset.task == "segmentation"
    assert flagged_codes(report) == {
        "images/sixteen.jpg": {"mask:out_of_range"},
        "images/ignored.jpg": {"mask:all_ignored", "probe:nonfinite_loss"},
        "images/small.jpg": {"mask:size_mismatch"},
        "images/lossy.jpg": {"mask:lossy", "mask:out_of_range"},
    }
    assert report.exit_code() == 1
    clean = (tmp_path / "report" / "clean.txt").read_text().splitlines()
    assert clean == ["images/clean0.jpg masks/clean0.png", "images/clean1.jpg masks/clean1.png"]
    records = [json.loads(line) for line in (tmp_path / "report" / "findings.jsonl").read_text().splitlines()]
    sixteen = next(r for r in records if r["path"] == "images/sixteen.jpg")
    assert sixteen["mask"] == "masks/sixteen.png" and sixteen["mask_info"]["bit_depth"] == 16
    assert "700: 3 px" in sixteen["findings"][0]["message"]


def test_summary_has_the_class_pixel_histogram_and_missing_classes(tmp_path):
    lines = [write_pair(tmp_path, f"m{i}", square_mask(value=1)) for i in range(3)]
    (tmp_path / "list.txt").write_text("".join(lines))
    report = sanitize.scan(tmp_path / "list.txt", num_classes=4, **SYNC)
    masks = report.summary.masks
    square = int((square_mask(value=1) == 1).sum())
    assert masks["class_pixels"] == {"0": 3 * (48 * 64 - square), "1": 3 * square, "2": 0, "3": 0}
    assert masks["never_appear"] == [2, 3]
    assert report.summary.classes.counts == {"0": 3, "1": 3, "2": 0, "3": 0}  # masks holding each class
    assert report.valid


def test_rare_values_are_flagged_dataset_wide(tmp_path):
    """Nearest-resized masks are fine; bilinear ones leave in-between class values that
    only ever form thin lines along the edges, in any mask."""
    source = disc_mask(10, 96, 128)
    lines = [write_pair(tmp_path, f"nearest{i}", resized(source, (64, 48), Image.Resampling.NEAREST)) for i in range(4)]
    bilinear = resized(source, (61, 45), Image.Resampling.BILINEAR)
    lines.append(write_pair(tmp_path, "bilinear", bilinear))
    (tmp_path / "list.txt").write_text("".join(lines))
    report = sanitize.scan(tmp_path / "list.txt", num_classes=11, **SYNC)
    assert flagged_codes(report) == {"images/bilinear.jpg": {"mask:rare_value"}}
    rare = set(report.summary.masks["rare_values"])
    assert rare and rare == {str(v) for v in np.unique(bilinear)} - {"0", "10"}
    assert report.valid  # a warning, not an error


def test_forced_task_and_lines_without_a_mask(tmp_path):
    write_pair(tmp_path, "a", square_mask())
    (tmp_path / "list.txt").write_text("images/a.jpg\nimages/a.jpg masks/a.png\n")
    dataset = open_dataset(tmp_path / "list.txt")
    assert dataset.task == "classification"  # auto-detection reads the first line
    report = sanitize.scan(tmp_path / "list.txt", num_classes=3, task="segmentation", **SYNC)
    listed_twice = [(0, {"missing", "exact"}), (1, {"exact"})]  # the same image twice: duplicate:exact
    assert [(r.index, {f.code for f in r.findings}) for r in report.flagged] == listed_twice


def test_classification_lists_are_untouched(tmp_path):
    save(tmp_path / "a.jpg", photo(), quality=90)
    (tmp_path / "list.txt").write_text("a.jpg 1\na.jpg 7\n")
    report = sanitize.scan(tmp_path / "list.txt", num_classes=3, **SYNC)
    assert report.summary.dataset.task == "classification"
    assert report.summary.masks is None and "masks" not in report.summary.to_dict()
    assert flagged_codes(report) == {"a.jpg": {"label:out_of_range", "duplicate:exact"}}


def test_mask_outside_the_root_is_never_opened(tmp_path):
    root = tmp_path / "root"
    write_pair(root, "a", square_mask())
    secret = save(tmp_path / "secret.png", square_mask(value=200))
    os.symlink(secret, root / "masks" / "link.png")
    (root / "list.txt").write_text("images/a.jpg masks/link.png\nimages/a.jpg ../secret.png\n")
    report = sanitize.scan(root / "list.txt", num_classes=3, **SYNC)
    assert [{f.code for f in r.findings} for r in report.flagged] == [{"mask_outside_root", "exact"}] * 2
    assert all(r.mask_info is None for r in report.flagged)  # the mask was never opened
    assert all(r.info.format == "JPEG" for r in report.flagged)  # the image still got its checks


def test_missing_mask_and_broken_image_are_both_reported(tmp_path):
    save(tmp_path / "images" / "a.jpg", photo(), quality=90)
    (tmp_path / "images" / "b.jpg").write_bytes(b"<html>not found</html>")
    (tmp_path / "list.txt").write_text("images/a.jpg masks/a.png\nimages/b.jpg masks/b.png\n")
    report = sanitize.scan(tmp_path / "list.txt", num_classes=3, **SYNC)
    assert flagged_codes(report) == {
        "images/a.jpg": {"paths:mask_missing"},
        "images/b.jpg": {"paths:mask_missing", "format:not_an_image"},
    }


def test_a_mask_over_the_size_limit_is_never_read(tmp_path):
    line = write_pair(tmp_path, "a", square_mask())
    mask = tmp_path / "masks" / "a.png"
    with open(mask, "r+b") as handle:  # a valid PNG head, then a sparse GiB
        handle.truncate((1 << 30) + 1)
    (tmp_path / "list.txt").write_text(line)
    report = sanitize.scan(tmp_path / "list.txt", num_classes=3, **SYNC)
    assert flagged_codes(report) == {"images/a.jpg": {"mask:too_large"}}
    assert report.flagged[0].mask_info.size == (1 << 30) + 1


def test_folder_pairs_with_suffixes_and_a_missing_mask(tmp_path):
    for seed, (city, stem, value) in enumerate((("aachen", "aachen_01", 1), ("bonn", "bonn_02", 300))):
        save(tmp_path / "leftImg8bit" / city / f"{stem}_leftImg8bit.png", photo(seed=seed))
        save(tmp_path / "gtFine" / city / f"{stem}_gtFine_labelIds.png", square_mask(value=value, dtype=np.uint16))
    save(tmp_path / "leftImg8bit" / "bonn" / "bonn_03_leftImg8bit.png", photo(seed=2))
    report = sanitize.scan(
        images=tmp_path / "leftImg8bit",
        masks=tmp_path / "gtFine",
        image_suffix="_leftImg8bit",
        mask_suffix="_gtFine_labelIds.png",
        num_classes=3,
        out=tmp_path / "report",
        **SYNC,
    )
    assert report.dataset.kind == "folderpairs" and report.dataset.root == tmp_path
    assert [s.mask for s in report.samples] == [
        "gtFine/aachen/aachen_01_gtFine_labelIds.png",
        "gtFine/bonn/bonn_02_gtFine_labelIds.png",
        None,
    ]
    assert flagged_codes(report) == {
        "leftImg8bit/bonn/bonn_02_leftImg8bit.png": {"mask:out_of_range"},
        "leftImg8bit/bonn/bonn_03_leftImg8bit.png": {"mask:missing"},
    }
    assert (tmp_path / "report" / "clean.txt").read_text() == (
        "leftImg8bit/aachen/aachen_01_leftImg8bit.png gtFine/aachen/aachen_01_gtFine_labelIds.png\n"
    )


def test_voc_style_folders_prefer_a_lossless_mask(tmp_path):
    save(tmp_path / "JPEGImages" / "2007_000032.jpg", photo(), quality=90)
    save(tmp_path / "SegmentationClass" / "2007_000032.png", square_mask())
    save(tmp_path / "SegmentationClass" / "2007_000032.jpg", square_mask())
    report = sanitize.scan(images=tmp_path / "JPEGImages", masks=tmp_path / "SegmentationClass", num_classes=3, **SYNC)
    assert [s.mask for s in report.samples] == ["SegmentationClass/2007_000032.png"]
    assert report.valid


@pytest.mark.parametrize(
    "arguments",
    [
        {"images": "x"},
        {"source": "list.txt", "images": "x", "masks": "y"},
        {},
    ],
)
def test_inputs_must_be_a_dataset_or_both_folders(tmp_path, arguments):
    with pytest.raises(SanitizeError, match="--images DIR and --masks DIR"):
        sanitize.scan(num_classes=3, **arguments, **SYNC)


def test_per_pixel_probe_loss_and_normalisations(tmp_path):
    """An untrained net scores about ln(C) per pixel; the normalisations divide one sum."""
    lines = [write_pair(tmp_path, f"m{i}", square_mask(value=2)) for i in range(2)]
    (tmp_path / "list.txt").write_text("".join(lines))
    report = sanitize.scan(tmp_path / "list.txt", num_classes=3, **SYNC)
    loss = report.summary.probe.loss
    assert loss.count == 2 and 0.3 < loss.mean < 3 * np.log(3)

    grid_input = np.random.default_rng(0).random(3 * 16 * 16).astype(np.float32)
    mask = square_mask(value=2)
    mask[:8] = 255
    counted = int((mask != 255).sum())
    losses = {n: pixel_loss(grid_input, mask, seg_config(normalization=n))[1] for n in ("valid", "full", "none")}
    assert losses["none"] == pytest.approx(losses["valid"] * counted)
    assert losses["full"] == pytest.approx(losses["none"] / mask.size)
    assert pixel_loss(grid_input, mask, seg_config(normalization="batch_size"))[1] == losses["none"]


@pytest.mark.parametrize(("normalization", "nonfinite"), [("valid", True), ("full", False), ("none", False)])
def test_all_ignored_mask_probe_nan_only_under_valid(tmp_path, normalization, nonfinite):
    (tmp_path / "list.txt").write_text(write_pair(tmp_path, "a", np.full((48, 64), 255, np.uint8)))
    report = sanitize.scan(tmp_path / "list.txt", num_classes=3, normalization=normalization, **SYNC)
    [result] = report.flagged
    assert ("probe:nonfinite_loss" in {f"{f.check}:{f.code}" for f in result.findings}) == nonfinite
    assert report.valid == (not nonfinite)


def test_rgb_masks_with_a_palette_end_to_end(tmp_path):
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[10:20, 10:20] = (128, 0, 0)
    (tmp_path / "list.txt").write_text(write_pair(tmp_path, "a", rgb))
    without = sanitize.scan(tmp_path / "list.txt", num_classes=2, **SYNC)
    assert flagged_codes(without) == {"images/a.jpg": {"mask:rgb"}}
    (tmp_path / "palette.json").write_text('{"0,0,0": 0, "128,0,0": 1}')
    with_palette = sanitize.scan(tmp_path / "list.txt", num_classes=2, palette=tmp_path / "palette.json", **SYNC)
    assert with_palette.valid and with_palette.summary.masks["class_pixels"] == {"0": 48 * 64 - 100, "1": 100}


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sanitize", "scan", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_exit_codes_and_report(tmp_path):
    (tmp_path / "good.txt").write_text(write_pair(tmp_path, "good", square_mask(value=1)))
    (tmp_path / "bad.txt").write_text(write_pair(tmp_path, "bad", np.full((48, 64), 255, np.uint8)))
    common = ("--num-classes", "3", "--scheduler", "synchronous")
    good = run_cli("good.txt", *common, "--out", "good-report", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "good-report" / "clean.txt").read_text() == "images/good.jpg masks/good.png\n"
    bad = run_cli("bad.txt", *common, "--out", "bad-report", cwd=tmp_path)
    assert bad.returncode == 1 and "mask:all_ignored" in bad.stdout
    assert (tmp_path / "bad-report" / "clean.txt").read_text() == ""
    lenient = run_cli("bad.txt", *common, "--normalization", "full", "--no-probe", "--out", "r3", cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stdout
    folders = run_cli("--images", "images", "--masks", "masks", *common, "--out", "r4", cwd=tmp_path)
    assert folders.returncode == 1
    assert json.loads((tmp_path / "r4" / "summary.json").read_text())["samples"]["listed"] == 2
    unusable = run_cli("--images", "images", *common, cwd=tmp_path)
    assert unusable.returncode == 2 and unusable.stderr.startswith("error: ") and "Traceback" not in unusable.stderr
    bad_palette = run_cli("good.txt", *common, "--palette", "missing.json", cwd=tmp_path)
    assert bad_palette.returncode == 2 and "cannot read palette" in bad_palette.stderr


def test_region_values_ignore_lines_and_specks():
    mask = np.zeros((10, 10), np.uint8)
    mask[5, :] = 1  # a one-pixel line
    mask[2, 2] = 2  # a speck
    mask[6:9, 6:9] = 3  # a 3x3 block: its centre is a region pixel
    assert region_values(mask) == (0, 3)


def test_a_value_that_forms_a_region_in_any_mask_is_not_rare():
    stats = RareValue(seg_config(num_classes=5))
    stats.fold(0, {0: 90, 3: 10}, (0,))
    stats.fold(1, {0: 50, 3: 50}, (0, 3))
    stats.fold(2, {0: 99, 4: 1}, (0,))
    stats.fold(3, {0: 99, 255: 1, 9: 1}, (0,))  # the ignore label and out-of-range values are not judged
    findings = stats.verdict()
    assert list(findings) == [2] and findings[2].message.startswith("value(s) 4 (1 px) never form a region")


def test_sample_data_is_what_its_readme_says():
    folder = Path(__file__).resolve().parents[1] / "sample_data" / "segmentation"
    report = sanitize.scan(folder / "train.txt", num_classes=8, **SYNC)
    assert flagged_codes(report) == {
        "images/jpeg_mask.jpg": {"mask:lossy", "mask:out_of_range", "mask:rare_value"},
        "images/bilinear.jpg": {"mask:rare_value"},
        "images/all_ignored.jpg": {"mask:all_ignored", "probe:nonfinite_loss"},
        "images/size_mismatch.jpg": {"mask:size_mismatch"},
        "images/rgb.jpg": {"mask:rgb"},
        "images/sixteen_bit.jpg": {"mask:out_of_range"},
        "images/no_mask.jpg": {"paths:mask_missing"},
        "images/escape.jpg": {"paths:mask_outside_root"},
    }
    with_palette = sanitize.scan(folder / "train.txt", num_classes=8, palette=folder / "palette.json", **SYNC)
    assert "images/rgb.jpg" not in flagged_codes(with_palette)
    binary = sanitize.scan(folder / "binary.txt", num_classes=2, **SYNC)
    assert flagged_codes(binary) == {"images/binary_255.jpg": {"mask:binary_255"}}


def test_unknown_task_is_refused_for_every_input(tmp_path):
    (tmp_path / "cls").mkdir()
    with pytest.raises(SanitizeError, match="--task must be one of"):
        sanitize.scan(tmp_path, task="detection", **SYNC)


def test_images_and_masks_in_one_folder_or_nested(tmp_path):
    save(tmp_path / "one" / "a.png", photo())
    save(tmp_path / "one" / "a_mask.png", square_mask())
    report = sanitize.scan(images=tmp_path / "one", masks=tmp_path / "one", mask_suffix="_mask", num_classes=3, **SYNC)
    assert [(s.path, s.mask) for s in report.samples] == [("a.png", "a_mask.png")]
    save(tmp_path / "nest" / "b.jpg", photo(), quality=90)
    save(tmp_path / "nest" / "labels" / "b.png", square_mask())
    nested = sanitize.scan(images=tmp_path / "nest", masks=tmp_path / "nest" / "labels", num_classes=3, **SYNC)
    assert [(s.path, s.mask) for s in nested.samples] == [("b.jpg", "labels/b.png")]
    assert nested.valid and report.valid


def test_pixel_loss_is_the_mean_loss_of_nearest_upsampled_logits():
    """Checked against the direct computation: a full-resolution logit map, pixel by pixel."""
    config = seg_config(num_classes=4, probe_grid=4)
    rng = np.random.default_rng(1)
    grid_input = rng.random(3 * 4 * 4).astype(np.float32)
    mask = rng.integers(0, 4, (10, 13)).astype(np.uint8)
    mask[0] = 255
    mask[1, :3] = 9  # out of range: not counted (the range check reports it)
    cell_logits = grid_input.reshape(3, 16).T.astype(np.float64) @ weights(1, 4, config.probe_seed)
    full = cell_logits.reshape(4, 4, 4)[(np.arange(10) * 4 // 10)][:, (np.arange(13) * 4 // 13)]
    log_p = full - np.log(np.exp(full).sum(axis=-1, keepdims=True))
    counted = mask < 4
    expected = -log_p[counted, mask[counted]].mean()
    _, loss, valid = pixel_loss(grid_input, mask, config)
    assert valid == counted.sum() and loss == pytest.approx(expected, rel=1e-5)
