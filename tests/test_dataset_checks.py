"""Dataset-level checks end to end: exact and near duplicates, train/validation leakage
(--against), mixed modes; each case on files made here, with its negative, through sanitize.scan,
sanitize.audit and the CLI."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sanitize
from sanitize.checks import hashparts
from tests.conftest import jpeg_bytes, png_bytes, run_cli, textured_photo
from tests.segmentation_helpers import square_mask, write_pair

SYNC = {"scheduler": "synchronous"}
NEW_CHECKS = ("duplicate", "leakage", "mode")


@pytest.fixture(params=[None, 1], ids=["one partition", "a partition a row"])
def partitions(request, monkeypatch):
    """The duplicate and leakage verdicts as they run on a few samples, and as they run on millions
    (hashes split into partition files, judged one at a time: checks.hashparts), forced here."""
    if request.param:
        monkeypatch.setattr(hashparts, "PARTITION_ROWS", request.param)


def _photos(root: Path, count: int, start: int = 0) -> list[str]:
    """`count` different photo-like JPEGs under root/img; their names."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    names = []
    for seed in range(start, start + count):
        (root / "img" / f"{seed}.jpg").write_bytes(jpeg_bytes(pixels=textured_photo(seed), quality=95))
        names.append(f"img/{seed}.jpg")
    return names


def _listing(root: Path, lines: list[str], name: str = "train.txt") -> Path:
    (root / name).write_text("".join(f"{line}\n" for line in lines))
    return root / name


def _found(report: sanitize.Report) -> dict[str, set[str]]:
    return {
        r.path: {f.name for f in r.findings if f.check in NEW_CHECKS}
        for r in report.flagged
        if any(f.check in NEW_CHECKS for f in r.findings)
    }


def test_unique_photos_are_never_flagged(tmp_path):
    names = _photos(tmp_path, 40)
    report = sanitize.scan(_listing(tmp_path, [f"{n} {i % 3}" for i, n in enumerate(names)]), num_classes=3, **SYNC)
    assert _found(report) == {}
    assert report.summary.duplicates["exact_groups"] == report.summary.duplicates["near_samples"] == 0
    assert report.summary.modes == {
        "majority": "RGB",
        "modes": {"RGB": 40},
        "sizes": {"128x96": 40},
        "distinct_sizes": 1,
    }
    assert "leakage" not in report.summary.to_dict()  # no --against


def test_exact_duplicates_warn_when_labels_agree_and_fail_when_they_do_not(tmp_path, partitions):
    names = _photos(tmp_path, 6)
    shutil.copy(tmp_path / names[0], tmp_path / "img" / "again.jpg")
    shutil.copy(tmp_path / names[1], tmp_path / "img" / "relabelled.jpg")
    lines = [f"{n} 0" for n in names] + ["img/again.jpg 0", "img/relabelled.jpg 1"]
    report = sanitize.scan(_listing(tmp_path, lines), num_classes=2, **SYNC)
    assert _found(report) == {
        "img/0.jpg": {"duplicate:exact"},
        "img/again.jpg": {"duplicate:exact"},
        "img/1.jpg": {"duplicate:label_conflict"},
        "img/relabelled.jpg": {"duplicate:label_conflict"},
    }
    by_path = {r.path: r for r in report.flagged}
    assert "img/relabelled.jpg (label 1)" in by_path["img/1.jpg"].findings[0].message
    assert not report.valid and report.error_count == 2
    assert report.summary.duplicates | {"near_samples": 0} == {
        "exact_groups": 2,
        "exact_samples": 4,
        "exact_conflicting_groups": 1,
        "near_samples": 0,
        "near_conflicting_samples": 0,
        "near_distance": 5,
    }


def test_each_copy_of_a_big_group_names_three_others_and_counts_the_rest(tmp_path):
    """A message names the SHOWN lowest-indexed other copies: only those samples are looked up."""
    names = _photos(tmp_path, 2)
    copies = [f"img/copy{i}.jpg" for i in range(6)]
    for copy in copies:
        shutil.copy(tmp_path / names[0], tmp_path / copy)
    lines = [f"{names[1]} 0", *(f"{c} 0" for c in copies), f"{names[0]} 0"]
    report = sanitize.scan(_listing(tmp_path, lines), num_classes=2, **SYNC)
    messages = {r.path: r.findings[0].message for r in report.flagged}
    group = [*copies, names[0]]
    assert set(messages) == set(group)
    for path in group:
        shown = [other for other in group if other != path][:3]
        assert messages[path] == "the same bytes as " + ", ".join(f"{o} (label 0)" for o in shown) + " and 3 more"


def test_a_near_duplicate_under_another_label_is_a_warning_and_a_similar_picture_is_not(tmp_path, partitions):
    names = _photos(tmp_path, 4)
    picture, other = textured_photo(0), textured_photo(1)
    edited = other.copy()
    edited[:48, :64] = 255 - edited[:48, :64]  # the same scene with a quarter changed: another picture
    (tmp_path / "img" / "recompressed.jpg").write_bytes(jpeg_bytes(pixels=picture, quality=60))
    (tmp_path / "img" / "same_label.jpg").write_bytes(jpeg_bytes(pixels=textured_photo(2), quality=70))
    (tmp_path / "img" / "edited.jpg").write_bytes(jpeg_bytes(pixels=edited, quality=95))
    lines = [f"{n} 0" for n in names] + ["img/recompressed.jpg 1", "img/same_label.jpg 0", "img/edited.jpg 1"]
    report = sanitize.scan(_listing(tmp_path, lines), num_classes=2, **SYNC)
    assert _found(report) == {
        "img/0.jpg": {"duplicate:near_label_conflict"},
        "img/recompressed.jpg": {"duplicate:near_label_conflict"},
    }
    assert report.valid  # warnings
    assert report.summary.duplicates["near_samples"] == 4  # 0 and its re-encode, 2 and its re-encode


def test_segmentation_the_same_image_with_other_masks_is_an_error(tmp_path, partitions):
    image = textured_photo(5, 48, 64)
    lines = [
        write_pair(tmp_path, "a", square_mask(value=1), image=image),
        write_pair(tmp_path, "b", square_mask(value=2), image=image),  # the same picture, another mask
        write_pair(tmp_path, "c", square_mask(value=1), image=textured_photo(6, 48, 64)),
        write_pair(tmp_path, "d", square_mask(value=1), image=textured_photo(6, 48, 64)),  # same, same mask
    ]
    (tmp_path / "train.txt").write_text("".join(lines))
    report = sanitize.scan(tmp_path / "train.txt", num_classes=3, **SYNC)
    assert _found(report) == {
        "images/a.jpg": {"duplicate:label_conflict"},
        "images/b.jpg": {"duplicate:label_conflict"},
        "images/c.jpg": {"duplicate:exact"},
        "images/d.jpg": {"duplicate:exact"},
    }
    assert "masks/b.png" in {r.path: r for r in report.flagged}["images/a.jpg"].findings[-1].message


def test_images_of_another_mode_among_one_mode_are_warnings_naming_the_majority(tmp_path):
    names = _photos(tmp_path, 8)
    grey, rgba = textured_photo(20)[:, :, 0], np.dstack([textured_photo(21), np.full((96, 128), 200, np.uint8)])
    (tmp_path / "img" / "grey.png").write_bytes(png_bytes(grey))
    (tmp_path / "img" / "rgba.png").write_bytes(png_bytes(rgba))
    lines = [f"{n} 0" for n in [*names, "img/grey.png", "img/rgba.png"]]
    report = sanitize.scan(_listing(tmp_path, lines), num_classes=2, **SYNC)
    assert _found(report) == {"img/grey.png": {"mode:minority"}, "img/rgba.png": {"mode:minority"}}
    message = {r.path: r for r in report.flagged}["img/grey.png"].findings[0].message
    assert "mode L" in message and "80.0% of the dataset's images are RGB" in message
    assert report.summary.modes["modes"] == {"RGB": 8, "L": 1, "RGBA": 1}
    only_grey = _listing(tmp_path, ["img/grey.png 0"] * 1 + [f"{n} 1" for n in names[:1]], "even.txt")
    assert _found(sanitize.scan(only_grey, num_classes=2, **SYNC)) == {}  # 1 of 2: no majority


def _validation(tmp_path: Path, train: Path) -> tuple[Path, Path]:
    """A validation ImageFolder holding a copy of train's 0.jpg and a list holding a re-encode of 1.jpg."""
    folder = tmp_path / "val_folder"
    (folder / "cat").mkdir(parents=True)
    shutil.copy(train / "img" / "0.jpg", folder / "cat" / "copied.jpg")
    (folder / "cat" / "own.jpg").write_bytes(jpeg_bytes(pixels=textured_photo(100)))
    listed = tmp_path / "val_list"
    listed.mkdir()
    (listed / "reencoded.jpg").write_bytes(jpeg_bytes(pixels=textured_photo(1), quality=60))
    (listed / "val.txt").write_text("reencoded.jpg 0\nmissing.jpg 1\n../train/img/2.jpg 0\n")  # outside: never read
    return folder, listed / "val.txt"


def test_training_samples_in_a_validation_folder_or_list_are_leakage(tmp_path, partitions):
    train = tmp_path / "train"
    listing = _listing(train, [f"{n} 0" for n in _photos(train, 6)])
    folder, val_list = _validation(tmp_path, train)
    report = sanitize.scan(listing, num_classes=2, against=[str(folder), str(val_list)], **SYNC)
    assert _found(report) == {"img/0.jpg": {"leakage:exact"}, "img/1.jpg": {"leakage:near"}}
    messages = {r.path: r.findings[0].message for r in report.flagged}
    assert messages["img/0.jpg"] == f"the same bytes as {folder}: cat/copied.jpg"
    assert messages["img/1.jpg"].startswith(f"looks like {val_list}: reencoded.jpg (perceptual hashes")
    assert report.summary.leakage == {
        "against": [str(folder), str(val_list)],
        "validation_files": 5,
        "validation_unread": 2,  # missing, and outside its root
        "exact": 1,
        "near": 1,
        "near_distance": 5,
    }
    clean = sanitize.scan(listing, num_classes=2, against=[str(folder / "cat" / "..")], **SYNC)
    assert "img/1.jpg" not in _found(clean)  # a folder without the re-encode: no near leak


def test_cli_against_is_repeatable_and_a_missing_one_is_one_line_exit_2(tmp_path):
    train = tmp_path / "train"
    listing = _listing(train, [f"{n} 0" for n in _photos(train, 4)])
    folder, val_list = _validation(tmp_path, train)
    scan = ("scan", listing, "--num-classes", "2", "--out", tmp_path / "r")
    done = run_cli(*scan, "--against", folder, "--against", val_list)
    assert done.returncode == 1, done.stderr
    assert "leakage:exact" in done.stdout and "leakage:near" in done.stdout
    missing = run_cli(*scan, "--against", tmp_path / "nowhere")
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert "nowhere" in missing.stderr and "Traceback" not in missing.stderr


def test_a_reaudit_finds_a_new_duplicate_of_an_unchanged_file_without_reading_it(tmp_path):
    root = tmp_path / "data"
    names = _photos(root, 6)
    db = tmp_path / "audit.sqlite"
    first = sanitize.audit(_listing(root, [f"{n} 0" for n in names]), db=db, num_classes=2, **SYNC)
    assert _found(first.report) == {}
    shutil.copy(root / names[3], root / "img" / "copy.jpg")
    listing = _listing(root, [f"{n} 0" for n in names] + ["img/copy.jpg 1"])
    again = sanitize.audit(listing, db=db, num_classes=2, **SYNC)
    assert (again.checked, again.reused) == (1, 6)  # 3.jpg is not read again: its stored hashes are used
    assert _found(again.report) == {
        "img/3.jpg": {"duplicate:label_conflict"},
        "img/copy.jpg": {"duplicate:label_conflict"},
    }


def test_a_store_without_hashes_checks_its_samples_again(tmp_path):
    root = tmp_path / "data"
    listing = _listing(root, [f"{n} 0" for n in _photos(root, 4)])
    db = tmp_path / "audit.sqlite"
    sanitize.audit(listing, db=db, num_classes=2, **SYNC)
    with sqlite3.connect(db) as conn:  # as a store written before the duplicate checks left them
        conn.execute("UPDATE samples SET digest = NULL, phash = NULL")
    assert sanitize.audit(listing, db=db, num_classes=2, **SYNC).checked == 4
    assert sanitize.audit(listing, db=db, num_classes=2, **SYNC).checked == 0


def test_an_old_store_gets_the_hash_columns(tmp_path):
    root = tmp_path / "data"
    listing = _listing(root, [f"{n} 0" for n in _photos(root, 2)])
    db = tmp_path / "audit.sqlite"
    sanitize.audit(listing, db=db, num_classes=2, **SYNC)
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE samples DROP COLUMN digest")
        conn.execute("ALTER TABLE samples DROP COLUMN phash")
    assert sanitize.audit(listing, db=db, num_classes=2, **SYNC).checked == 2


@pytest.mark.parametrize("frames", [1, 3])
def test_animated_images_only_warn_in_a_classification_set(tmp_path, frames):
    names = _photos(tmp_path, 3)
    images = [Image.fromarray(textured_photo(50 + i)) for i in range(frames)]
    images[0].save(tmp_path / "img" / "anim.gif", save_all=True, append_images=images[1:])
    report = sanitize.scan(_listing(tmp_path, [f"{n} 0" for n in [*names, "img/anim.gif"]]), num_classes=2, **SYNC)
    assert ("mode:animated" in _found(report).get("img/anim.gif", set())) == (frames > 1)
