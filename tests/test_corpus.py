"""The shared corpus of real broken and unusual files from decoder test suites.

Skipped when ../shared/corpus is absent (a user's clone of the project alone).
"""

from __future__ import annotations

import pytest

import sanitize
from sanitize.formats import EXTENSION_FORMATS
from tests.conftest import CORPUS

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


@pytest.fixture(scope="module")
def corpus_report(tmp_path_factory):
    names = sorted(p.name for p in CORPUS.iterdir() if p.suffix.lower() in EXTENSION_FORMATS)
    listing = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    listing.write_text("".join(f"{name} 0\n" for name in names))
    report = sanitize.scan(listing, root=CORPUS, num_classes=2, scheduler="synchronous")
    return names, {r.path: r for r in report.flagged}, report


def _errors(result) -> set[str]:
    return {f"{f.check}:{f.code}" for f in result.findings if f.is_error} if result else set()


def test_every_file_gets_a_verdict(corpus_report):
    names, _, report = corpus_report
    assert report.summary.samples.scanned == len(names) > 250


@pytest.mark.parametrize(
    "name",
    [
        "truncated_jpeg.jpg",
        "dc-predictor-overflow.jpg",  # Pillow decodes it without a word
        "broken_data_stream.png",
        "truncated_image.png",
        "x_interlaced_chck.png",
        "xcsn0g01.png",
        "decompression_bomb.gif",
        "issue-117-out-of-range.gif",
        "test-corrupt.webp",
        "shortfile.bmp",
        "reallybig.bmp",
    ],
)
def test_known_broken_files_are_errors(corpus_report, name):
    _, flagged, _ = corpus_report
    assert _errors(flagged.get(name)), f"{name} passed"


def test_pngsuite_corrupt_files_are_all_errors(corpus_report):
    names, flagged, _ = corpus_report
    corrupt = [n for n in names if n.startswith("x") and n.endswith(".png") and n[1:3].isalnum() and len(n) == 12]
    assert len(corrupt) >= 10
    assert [n for n in corrupt if not _errors(flagged.get(n))] == []


def test_nan_nodata_float_tiffs_are_caught(corpus_report):
    _, flagged, _ = corpus_report
    for name in ("float_nan.tif", "cog_with_nan.tif"):
        assert "finite:nonfinite" in _errors(flagged.get(name))


@pytest.mark.parametrize(
    "name",
    [
        "basn0g01.png",
        "basn0g16.png",
        "basn3p08.png",
        "basn6a16.png",
        "hopper.jpg",
        "hopper_gray.jpg",
        "testimgari.jpg",  # arithmetic-coded
        "pil_sample_cmyk.jpg",
        "exif-ifd-offset.jpg",
        "16bit.MM.deflate.tif",
        "hopper.Lab.tif",
        "2-color.webp",
    ],
)
def test_valid_files_in_unusual_modes_pass(corpus_report, name):
    names, flagged, _ = corpus_report
    assert name in names
    assert _errors(flagged.get(name)) == set()
