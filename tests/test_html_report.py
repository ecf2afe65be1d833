"""report.html without a browser: what the page holds, where its previews come from (only inside the
dataset root, under the scan's limits), that a page which cannot be written costs the scan nothing,
and `sanitize report`. tests/test_html_browser.py renders it in a real Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sanitize
from sanitize.config import ScanConfig
from sanitize.report.files import ReportFolder, read_report
from sanitize.report.html import render_html, write_html
from sanitize.report.previews import OUT_OF_RANGE, THUMB_SIDE, Previewer
from tests.conftest import REPO, jpeg_bytes, png_bytes, run_cli

SAMPLE = REPO / "sample_data"
CLASSIFICATION = {"num_classes": 3, "ignore_label": 255, "scheduler": "synchronous"}


class _Links(HTMLParser):
    """Every src/href/action attribute, the CSP meta tag, and the cards' paths."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.csp: str | None = None
        self.paths: list[str] = []
        self._in_path = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.links += [value or "" for key, value in attrs if key in ("src", "href", "action", "srcset")]
        if tag == "meta" and found.get("http-equiv") == "Content-Security-Policy":
            self.csp = found["content"]
        self._in_path = tag == "code" and found.get("class") == "path"

    def handle_data(self, data: str) -> None:
        if self._in_path:
            self.paths.append(data)
            self._in_path = False


def _parsed(page: str) -> _Links:
    parser = _Links()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def classification_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    sanitize.scan(SAMPLE / "classification" / "train.txt", out=out, **CLASSIFICATION)
    return out


def test_the_page_shows_every_flagged_sample_and_requests_nothing(classification_report):
    page = (classification_report / "report.html").read_text()
    parsed = _parsed(page)
    flagged = [json.loads(line)["path"] for line in (classification_report / "findings.jsonl").read_text().splitlines()]
    assert flagged and set(flagged) <= set(parsed.paths)
    assert parsed.csp is not None and "default-src 'none'" in parsed.csp and "img-src data:" in parsed.csp
    assert parsed.links and all(link.startswith(("data:image/jpeg;base64,", "#")) for link in parsed.links)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    summary = json.loads((classification_report / "summary.json").read_text())
    for name, entry in summary["findings"].items():
        assert re.search(rf'id="g-{re.escape(name)}".*?<p>{entry["samples"]:,} samples? ·', page), name


def test_html_saved_as_jpg_shows_what_it_is(tmp_path):
    (tmp_path / "page.jpg").write_bytes(b"<!DOCTYPE html><html><body>captive portal</body></html>")
    (tmp_path / "ok.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "train.txt").write_text("page.jpg 0\nok.jpg 1\n")
    sanitize.scan(tmp_path / "train.txt", out=tmp_path / "out", num_classes=2, scheduler="synchronous")
    page = (tmp_path / "out" / "report.html").read_text()
    card = page[page.index('data-path="page.jpg"') :].split("</article>")[0]
    assert "HTML" in card and "&lt;!DOCTYPE html&gt;&lt;html&gt;" in card and "3c 21 44 4f 43 54 59 50 45" in card
    assert "<img" not in card


def _decoded(uri: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(uri.removeprefix("data:image/jpeg;base64,"))))


def test_previews_read_only_inside_the_root_and_under_the_scan_limits(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.jpg").write_bytes(jpeg_bytes())
    (root / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    (root / "big.png").write_bytes(png_bytes())  # 128 x 96
    (root / "ok.jpg").write_bytes(jpeg_bytes(size=(400, 300)))
    default = Previewer(str(root), str(root), ScanConfig(num_classes=2))
    thumb = default.preview("ok.jpg")
    assert thumb.image is not None and max(_decoded(thumb.image).size) == THUMB_SIDE
    for path in ("../secret.jpg", "link.jpg", str(tmp_path / "secret.jpg")):
        refused = default.preview(path)
        assert refused.image is None and refused.head is None and "outside the dataset root" in refused.note
    by_bytes = Previewer(str(root), str(root), ScanConfig(num_classes=2, max_file_bytes=100)).preview("big.png")
    assert by_bytes.image is None and by_bytes.head.startswith(b"\x89PNG") and "--max-file-bytes" in by_bytes.note
    by_pixels = Previewer(str(root), str(root), ScanConfig(num_classes=2, max_pixels=1000)).preview("big.png")
    assert by_pixels.image is None and by_pixels.format == "PNG" and "does not decode" in by_pixels.note
    assert Previewer(str(root), None, ScanConfig(num_classes=2)).preview("ok.jpg").image is None  # a bucket


def test_a_mask_is_drawn_over_its_image_with_out_of_range_pixels_highlighted(tmp_path):
    image = np.full((40, 40, 3), 128, np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[:20] = 7  # class 7 of 3: out of range
    (tmp_path / "a.png").write_bytes(png_bytes(image))
    (tmp_path / "a_mask.png").write_bytes(png_bytes(mask))
    preview = Previewer(str(tmp_path), str(tmp_path), ScanConfig(num_classes=3, task="segmentation")).preview(
        "a.png", "a_mask.png"
    )
    assert preview.image is not None and "800 pixels out of range" in preview.note
    pixels = np.asarray(_decoded(preview.image).convert("RGB"), dtype=int)
    magenta = np.abs(pixels - OUT_OF_RANGE).sum(axis=-1) < 60
    assert magenta[:15].mean() > 0.9 and magenta[25:].mean() < 0.05  # the top half, and only it


def test_the_gallery_is_capped_per_finding_with_the_count_of_the_rest(tmp_path):
    (tmp_path / "train.txt").write_text("".join(f"gone_{i}.jpg 0\n" for i in range(7)))
    sanitize.scan(tmp_path / "train.txt", out=tmp_path / "out", num_classes=1, scheduler="synchronous")
    read = read_report(tmp_path / "out")
    previewer = Previewer(str(tmp_path), str(tmp_path), ScanConfig(num_classes=1))
    page = render_html(read.summary, read.records, previewer, cap=3)
    assert _parsed(page).paths == ["gone_0.jpg", "gone_1.jpg", "gone_2.jpg"] and "and 4 more" in page


def test_a_page_that_cannot_be_written_costs_the_scan_nothing(tmp_path):
    out = tmp_path / "out"
    (out / "report.html").mkdir(parents=True)  # where the page would go: a folder
    done = run_cli("scan", SAMPLE / "classification" / "train.txt", "--num-classes", "3", "--out", out)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().startswith("warning: report.html not written") and done.stderr.count("\n") == 1
    assert {p.name for p in out.iterdir()} == {"findings.jsonl", "summary.json", "clean.txt", "report.html"}
    assert (out / "report.html").is_dir()


def test_a_page_that_cannot_be_drawn_leaves_no_earlier_page_behind(classification_report, tmp_path):
    (tmp_path / "report.html").write_text("the page of an earlier scan")
    summary = json.loads((classification_report / "summary.json").read_text())
    del summary["classes"]  # what the page needs is not there: drawing it fails
    problem = write_html(ReportFolder(tmp_path), summary, [], ScanConfig(num_classes=3))
    assert problem == "report.html not written: KeyError: 'classes'" and not (tmp_path / "report.html").exists()


def test_sanitize_report_draws_the_same_page_again(classification_report, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(classification_report, copy)
    (copy / "report.html").unlink()
    done = run_cli("report", copy)
    assert done.returncode == 0, done.stderr
    assert (copy / "report.html").read_text() == (classification_report / "report.html").read_text()


@pytest.mark.parametrize("broken", ["no folder", "no summary", "bad config"])
def test_sanitize_report_of_what_is_not_a_report_is_one_line_and_exit_2(classification_report, tmp_path, broken):
    copy = tmp_path / "copy"
    if broken != "no folder":
        shutil.copytree(classification_report, copy)
    if broken == "no summary":
        (copy / "summary.json").unlink()
    if broken == "bad config":
        summary = json.loads((copy / "summary.json").read_text())
        summary["config"]["num_classes"] = 0
        (copy / "summary.json").write_text(json.dumps(summary))
    done = run_cli("report", copy)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr


def test_the_summary_holds_the_plots_statistics(classification_report):
    summary = json.loads((classification_report / "summary.json").read_text())
    loss = summary["probe"]["loss"]
    histogram = loss["histogram"]
    assert sum(histogram["counts"]) == loss["count"] and len(histogram["edges"]) == len(histogram["counts"]) + 1
    assert histogram["edges"][0] <= min(loss["min"], summary["probe"]["expected_untrained_loss"])
    sizes = summary["image_sizes"]
    assert sum(cell[2] for cell in sizes["cells"]) + sizes["unknown"] == summary["samples"]["scanned"]


def test_a_config_reads_back_from_its_json():
    config = ScanConfig(num_classes=4, formats=("PNG",), probe_scale=(1.0, 2.0, 3.0), palette=((1, 2, 3, 0),))
    assert ScanConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
