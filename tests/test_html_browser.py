"""report.html in a real headless Chromium (Debian's `chromium`, which .ci/run installs with apt-get
when it is missing), driven through its command line: the DOM after the page's script ran
(--dump-dom), with JavaScript off, the page's network requests (--log-net-log) and a screenshot,
kept as a test artifact in $SANITIZE_ARTIFACTS (.ci/run: .artifacts/), else in pytest's tmp dir.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sanitize
from tests.conftest import REPO

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="chromium is not installed here (.ci/run installs it: apt-get install chromium)",
)
SAMPLES = {
    "classification": {"num_classes": 3, "ignore_label": 255},
    "segmentation": {"num_classes": 3},
}


def _chromium(profile: Path, url: str, *options: str) -> str:
    """Chromium's stdout for `url`: quiet, no first-run, sync, update or background traffic of its own."""
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *options,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Dom(HTMLParser):
    """The rendered DOM: cards (path, hidden), groups (id, hidden), images, the filter form."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: dict[str, bool] = {}
        self.groups: dict[str, bool] = {}
        self.images: list[str] = []
        self.form_hidden: bool | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        hidden = "hidden" in found
        if tag == "article":
            self.cards[found["data-path"]] = hidden
        elif tag == "section" and found.get("class") == "group":
            self.groups[found["id"]] = hidden
        elif tag == "img":
            self.images.append(found.get("src") or "")
        elif tag == "form" and found.get("id") == "filters":
            self.form_hidden = hidden


def _dom(text: str) -> _Dom:
    dom = _Dom()
    dom.feed(text)
    return dom


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def report(request, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp(request.param)
    source = REPO / "sample_data" / request.param / "train.txt"
    sanitize.scan(source, out=out, scheduler="synchronous", **SAMPLES[request.param])
    return out


def _flagged(report: Path) -> list[str]:
    return [json.loads(line)["path"] for line in (report / "findings.jsonl").read_text().splitlines()]


def test_every_flagged_sample_is_on_the_page_with_data_images_only(report, tmp_path):
    dom = _dom(_chromium(tmp_path / "profile", (report / "report.html").as_uri(), "--dump-dom"))
    assert dom.form_hidden is False  # the page's own script ran (its hash is in the policy)
    assert set(_flagged(report)) <= set(dom.cards) and not any(dom.cards.values())
    assert dom.images and all(src.startswith("data:image/jpeg;base64,") for src in dom.images)


def _page_requests(net_log: Path) -> list[str]:
    """URLs the page asked for: requests isolated under the file:// site (Chromium's own requests,
    for updates or accounts, are not)."""
    events = json.loads(net_log.read_text())["events"]
    return [
        event["params"]["url"]
        for event in events
        if "url" in event.get("params", {}) and "file://" in event["params"].get("network_isolation_key", "")
    ]


def test_the_page_makes_no_network_request(report, tmp_path):
    net_log = tmp_path / "net.json"
    _chromium(tmp_path / "profile", (report / "report.html").as_uri(), "--dump-dom", f"--log-net-log={net_log}")
    assert _page_requests(net_log) == []
    control = tmp_path / "control.html"  # the same watch sees a page that does ask
    control.write_text('<img src="http://127.0.0.1:9/x.png">')
    _chromium(tmp_path / "profile", control.as_uri(), "--dump-dom", f"--log-net-log={net_log}")
    assert _page_requests(net_log) == ["http://127.0.0.1:9/x.png"]


def test_the_filters_hide_what_does_not_match(tmp_path):
    out = tmp_path / "out"
    sanitize.scan(REPO / "sample_data" / "classification" / "train.txt", out=out, **SAMPLES["classification"])
    page = (out / "report.html").as_uri()
    by_path = _dom(_chromium(tmp_path / "profile", f"{page}?q=TRUNCATED", "--dump-dom"))
    shown = [path for path, hidden in by_path.cards.items() if not hidden]
    assert shown == ["broken/truncated.jpg"] and len(by_path.cards) > 10
    by_check = _dom(_chromium(tmp_path / "profile", f"{page}?check=label", "--dump-dom"))
    assert {g for g, hidden in by_check.groups.items() if not hidden} == {
        g for g in by_check.groups if g.startswith("g-label:")
    }
    warnings = _dom(_chromium(tmp_path / "profile", f"{page}?severity=warning", "--dump-dom"))
    shown_groups = {g for g, hidden in warnings.groups.items() if not hidden}
    assert shown_groups == {"g-probe:scale_outlier", "g-duplicate:exact", "g-mode:animated", "g-mode:minority"}


def test_with_javascript_off_everything_is_shown(report, tmp_path):
    """Scripts off for this page alone: a copy whose policy allows no script (--blink-settings=
    scriptEnabled=false would also stop --dump-dom, which reads the DOM through a script)."""
    page = (report / "report.html").read_text()
    policy = re.search(r"script-src '[^']+'", page).group(0)
    copy = tmp_path / "report.html"
    copy.write_text(page.replace(policy, "script-src 'none'"))
    dom = _dom(_chromium(tmp_path / "profile", f"{copy.as_uri()}?q=nothing-matches-this", "--dump-dom"))
    assert dom.form_hidden is True  # no script ran: the controls stay hidden, the filter in the address is not applied
    assert set(_flagged(report)) <= set(dom.cards) and not any(dom.cards.values()) and not any(dom.groups.values())


def test_a_screenshot_shows_the_styled_verdict(report, tmp_path):
    artifacts = Path(os.environ.get("SANITIZE_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / f"report-{report.name.rstrip('0123456789')}.png"
    _chromium(
        tmp_path / "profile",
        (report / "report.html").as_uri(),
        f"--screenshot={shot}",
        "--window-size=1280,2600",
        "--hide-scrollbars",
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    assert pixels.shape[:2] == (2600, 1280)
    fail_red = np.abs(pixels[:300] - (0xC6, 0x28, 0x28)).sum(axis=-1) < 30  # the FAIL badge: the style applied
    assert fail_red.sum() > 500
