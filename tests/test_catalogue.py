"""The findings catalogue: no finding outside it, `sanitize checks` and the docs follow it, and a
typo in `--only` is refused instead of selecting nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import sanitize
from sanitize.findings import CATALOGUE, CODES, ERROR, WARNING, Finding, UndeclaredFinding, error, warning
from tests.conftest import REPO, jpeg_bytes, png_bytes, run_cli

SOURCE = REPO / "sanitize"


@pytest.mark.parametrize(
    ("check", "code", "severity"),
    [
        ("decode", "truncted", ERROR),  # a typo of a code
        ("decod", "corrupt_data", ERROR),  # a typo of a check
        ("label", "corrupt_data", ERROR),  # a real code of another check
        ("decode", "corrupt_data", WARNING),  # a severity the code never has
        ("decode", "jpeg_warning", ERROR),
    ],
)
def test_a_finding_outside_the_catalogue_cannot_be_made(check, code, severity):
    with pytest.raises(UndeclaredFinding):
        Finding(check, code, severity, "message")


def test_codes_an_option_demotes_or_promotes_take_both_severities_and_no_other_does():
    assert warning("format", "extension_mismatch", "m").severity is WARNING
    assert error("mask", "all_ignored", "m").severity is ERROR and warning("mask", "all_ignored", "m")
    assert warning("decode", "concealed_corruption", "m") and error("decode", "concealed_corruption", "m")
    promoted = {"format:extension_mismatch", "mask:all_ignored", "decode:concealed_corruption"}
    assert {c.name for c in CATALOGUE if c.also} == promoted


def _source_pairs() -> set[str]:
    """Every `error("CHECK", "CODE"` / `warning(...)` / `Finding(...)` with literal names in the package."""
    pattern = re.compile(r"\b(?:error|warning|Finding)\(\s*\"([a-z_]+)\",\s*\"([a-z_0-9]+)\"")
    return {
        f"{check}:{code}"
        for path in SOURCE.rglob("*.py")
        if path.name != "findings.py"
        for check, code in pattern.findall(path.read_text())
    }


def test_every_finding_the_source_makes_is_declared_and_every_declared_code_is_made():
    made = _source_pairs()
    assert len(made) > 35  # the pattern sees the source (not vacuous)
    assert made <= set(CODES)
    text = "".join(path.read_text() for path in SOURCE.rglob("*.py") if path.name != "findings.py")
    never_made = [c.name for c in CATALOGUE if f'"{c.code}"' not in text]
    assert never_made == []


def test_docs_table_of_codes_is_the_catalogue():
    docs = (REPO / "docs" / "checks.md").read_text()
    assert sanitize.codes_markdown() in docs
    for check in sanitize.CHECK_DESCRIPTIONS:  # the README's one-screen table names every check
        assert f"[`{check}`]" in (REPO / "README.md").read_text()


def test_sanitize_checks_lists_every_code_as_json_and_text():
    listed = json.loads(run_cli("checks", "--json").stdout)
    assert [entry["name"] for entry in listed] == [c.name for c in CATALOGUE]
    assert all(entry["meaning"] and entry["severity"] in ("error", "warning") for entry in listed)
    text = run_cli("checks", "mask").stdout
    assert "mask:rare_value" in text and "dataset-wide" in text and "decode:" not in text
    markdown = run_cli("checks", "--markdown").stdout
    assert markdown.strip() == sanitize.codes_markdown()


@pytest.mark.parametrize(
    ("selector", "says"),
    [
        ("lable", "did you mean 'label'?"),
        ("decode:corupt_data", "did you mean 'corrupt_data'?"),
        ("format:", "CHECK:CODE"),
    ],
)
def test_checks_refuses_an_unknown_name_in_one_line_with_a_suggestion(selector, says):
    done = run_cli("checks", selector)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, Path]:
    """A report on a dataset with many kinds of broken sample, written by the CLI."""
    root = tmp_path_factory.mktemp("broken")
    lines = []
    files = {
        "ok.jpg": jpeg_bytes(),
        "cut.jpg": jpeg_bytes()[:600],
        "page.jpg": b"<!doctype html><html>captive portal</html>",
        "png_named.jpg": png_bytes(),
        "empty.png": b"",
        "deep.png": png_bytes(np.full((16, 16), 65535, np.uint16)),
        "notes.txt": b"hello",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
        lines.append(f"{name} 1")
    np.save(root / "nan.npy", np.array([[np.nan, 1.0], [2.0, 3.0]], np.float32))
    lines += ["nan.npy 0", "ok.jpg 7", "ok.jpg cat", "ok.jpg", "missing.jpg 0", "../escape.jpg 0"]
    lines += [f"ok.jpg {i % 2}" for i in range(10)]  # enough magnitudes for the dataset-wide scale check
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    out = root.parent / "report"
    scale = ("--scale", str(1 / 255))  # as training scales 8-bit data: the 16-bit image is 257x too bright
    done = run_cli("scan", root / "train.txt", "--num-classes", "2", *scale, "--out", out, "--scheduler", "synchronous")
    assert done.returncode == 1, done.stderr
    return root, out


def test_every_code_a_scan_emits_is_in_sanitize_checks(scanned):
    _, out = scanned
    emitted = {
        f"{f['check']}:{f['code']}"
        for line in (out / "findings.jsonl").read_text().splitlines()
        for f in json.loads(line)["findings"]
    }
    listed = {entry["name"] for entry in json.loads(run_cli("checks", "--json").stdout)}
    assert len(emitted) >= 12 and emitted <= listed
    assert {"probe:scale_outlier", "finite:nonfinite", "format:not_an_image", "paths:outside_root"} <= emitted


@pytest.mark.parametrize(
    ("only", "says"),
    [
        ("decode:truncted", "has no code 'truncted'"),
        ("decode:corupt_data", "did you mean 'corrupt_data'?"),
        ("lable", "did you mean 'label'?"),
    ],
)
def test_quarantine_only_refuses_a_typo_and_moves_nothing(scanned, tmp_path, only, says):
    root, out = scanned
    before = sorted(p.name for p in root.iterdir())
    done = run_cli("quarantine", out, "--to", tmp_path / "q", "--only", only)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and says in done.stderr
    assert sorted(p.name for p in root.iterdir()) == before and not (tmp_path / "q").exists()
