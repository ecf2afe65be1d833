"""Reports stay what they were: the sample data and the shared corpus scanned now give the report
files recorded in tests/golden/ (before the scan path was reworked for speed), but for what
differs between any two runs (paths of the checkout, mtimes, timings).

The decoders' own messages are part of a report, so a golden file holds only under the library
versions it was recorded with: under others the test is skipped, saying so. To record again
(after a deliberate change): SANITIZE_RECORD_GOLDEN=1 python -m pytest tests/test_report_golden.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import sanitize
from sanitize.formats import EXTENSION_FORMATS
from sanitize.report.summary import versions
from tests.conftest import CORPUS, REPO

GOLDEN = Path(__file__).parent / "golden"
RECORD = os.environ.get("SANITIZE_RECORD_GOLDEN") == "1"
DECODERS = ("pillow", "numpy", "simplejpeg")
#: summary.json entries that differ between any two runs of the same scan.
VOLATILE = ("elapsed_seconds", "samples_per_second", "runner", "versions")


def _normalized(out: Path, roots: list[Path]) -> dict:
    """The report files with checkout paths replaced by <ROOT> and mtimes dropped."""

    def clean(text: str) -> str:
        for root in roots:
            text = text.replace(os.path.realpath(root), "<ROOT>").replace(str(root), "<ROOT>")
        return re.sub(r', "mtime_ns": \d+', "", text)

    summary = json.loads(clean((out / "summary.json").read_text()))
    for key in VOLATILE:
        summary.pop(key)
    return {
        "findings": clean((out / "findings.jsonl").read_text()).splitlines(),
        "summary": summary,
        "clean": (out / "clean.txt").read_text().splitlines(),
    }


def _rounded(value: object) -> object:
    """Floats to 6 significant digits: the probe's float32 matrix products (BLAS) differ in the last
    bits between runs of the same code, and with them the summary's loss statistics."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def _compare(name: str, report: dict) -> None:
    path = GOLDEN / f"{name}.json"
    if RECORD:
        GOLDEN.mkdir(exist_ok=True)
        recorded = {"versions": {k: versions()[k] for k in DECODERS}, "report": report}
        path.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n")
        return
    recorded = json.loads(path.read_text())
    now = {k: versions()[k] for k in DECODERS}
    if recorded["versions"] != now:
        pytest.skip(f"recorded under {recorded['versions']}, installed {now}: decoder messages may differ")
    assert report["clean"] == recorded["report"]["clean"]
    assert report["findings"] == recorded["report"]["findings"]
    assert _rounded(report["summary"]) == _rounded(recorded["report"]["summary"])


@pytest.mark.parametrize(
    ("name", "listing", "options"),
    [
        ("classification", "classification/train.txt", {"num_classes": 3, "ignore_label": 255}),
        ("segmentation", "segmentation/train.txt", {"num_classes": 3}),
    ],
)
@pytest.mark.parametrize("scheduler", ["synchronous", None])
def test_sample_data_reports_are_unchanged(tmp_path, name, listing, options, scheduler):
    if RECORD and scheduler is not None:
        pytest.skip("recorded once, in-process")
    data = REPO / "sample_data"
    sanitize.scan(data / listing, out=tmp_path / "out", scheduler=scheduler, **options)
    _compare(name, _normalized(tmp_path / "out", [data, tmp_path]))


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_corpus_report_is_unchanged(tmp_path):
    names = sorted(p.name for p in CORPUS.iterdir() if p.suffix.lower() in EXTENSION_FORMATS)
    listing = tmp_path / "corpus.txt"
    listing.write_text("".join(f"{name} 0\n" for name in names))
    sanitize.scan(listing, root=CORPUS, num_classes=2, out=tmp_path / "out", scheduler="synchronous")
    _compare("corpus", _normalized(tmp_path / "out", [CORPUS, tmp_path]))
