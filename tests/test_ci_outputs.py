"""CI outputs: the JUnit XML (parsed, checked against the findings and against the structure the
Jenkins schema allows), GitHub Actions' annotations and step summary (through the CLI, as a
workflow runs it), their caps and their escaping."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import sanitize
from sanitize.findings import CHECK_DESCRIPTIONS
from sanitize.report.github import ANNOTATIONS, escape_data, escape_property, step_summary
from sanitize.report.junit import MAX_LISTED
from tests.conftest import REPO, cli_env

TRAIN = REPO / "sample_data" / "classification" / "train.txt"
SAMPLE_OPTIONS = ("--num-classes", "3", "--ignore-label", "255", "--scheduler", "synchronous")

#: What jenkins-junit.xsd (the JUnit 5 repository's platform-tests/src/test/resources) allows:
#: each element's children in their order of the schema's sequence, and its required attributes.
SCHEMA = {
    "testsuites": (("testsuite",), ()),
    "testsuite": (("properties", "testcase", "system-out", "system-err"), ("name", "tests")),
    "properties": (("property",), ()),
    "property": ((), ("name", "value")),
    "testcase": (("skipped", "error", "failure", "system-out", "system-err"), ("name",)),
    "failure": ((), ()),
    "system-out": ((), ()),
}
#: Its optional attributes (an attribute outside these and the required ones is invalid).
OPTIONAL = {
    "testsuites": {"name", "time", "tests", "failures", "disabled", "errors"},
    "testsuite": {"failures", "errors", "time", "disabled", "skipped", "timestamp", "hostname", "id", "package"},
    "testcase": {"assertions", "time", "classname", "status"},
    "failure": {"type", "message"},
}


def schema_problems(element: ET.Element) -> list[str]:
    """Where `element` and its descendants break the Jenkins JUnit schema's structure."""
    children, required = SCHEMA[element.tag]
    problems = [f"{element.tag} lacks @{name}" for name in required if name not in element.attrib]
    extra = set(element.attrib) - set(required) - OPTIONAL.get(element.tag, set())
    problems += [f"{element.tag} has @{name}" for name in sorted(extra)]
    order = [children.index(child.tag) if child.tag in children else -1 for child in element]
    if -1 in order or order != sorted(order):
        problems.append(f"{element.tag} children {[c.tag for c in element]} are not in {children}")
    for child in element:
        problems += schema_problems(child) if child.tag in SCHEMA else [f"{child.tag} is not a JUnit element"]
    return problems


@pytest.mark.parametrize(
    "document",
    [
        "<testsuites><testsuite tests='1'/></testsuites>",  # a testsuite without its name
        "<testsuite name='s' tests='1'><testcase name='c'><system-out/><failure/></testcase></testsuite>",
        "<testsuite name='s' tests='1'><testcase name='c'><properties/></testcase></testsuite>",
        "<testsuite name='s' tests='1'><testcase name='c' file='x'/></testsuite>",
    ],
)
def test_the_schema_check_refuses_what_the_jenkins_schema_refuses(document):
    assert schema_problems(ET.fromstring(document)) != []


@pytest.fixture(scope="module")
def sample_report():
    return sanitize.scan(TRAIN, num_classes=3, ignore_label=255, scheduler="synchronous")


def _cases(document: str) -> dict[str, ET.Element]:
    root = ET.fromstring(document)
    return {case.get("classname"): case for case in root.iter("testcase")}


def test_junit_has_a_testcase_per_check_failing_exactly_on_its_errors(sample_report):
    document = sanitize.junit_xml(sample_report, 1, sample_report.verdict())
    root = ET.fromstring(document)
    assert schema_problems(root) == []
    cases = _cases(document)
    assert list(cases) == [f"sanitize.{check}" for check in CHECK_DESCRIPTIONS] + ["sanitize.verdict"]
    for check in CHECK_DESCRIPTIONS:
        erring = [r.path for r in sample_report.flagged if any(f.check == check and f.is_error for f in r.findings)]
        failure = cases[f"sanitize.{check}"].find("failure")
        if not erring:
            assert failure is None, check
            continue
        listed = [line.split(": ")[0] for line in failure.text.splitlines()]
        assert sorted(set(listed)) == sorted(erring), check
        assert failure.get("message").startswith(f"{len(erring)} sample")
    assert {"sanitize.mask", "sanitize.internal"} <= {name for name, c in cases.items() if c.find("failure") is None}
    warned = cases["sanitize.probe"].find("system-out").text
    assert "broken/huge_values.tif: probe:scale_outlier" in warned
    suite = root.find("testsuite")
    failing = sum(1 for case in cases.values() if case.find("failure") is not None)
    assert suite.get("failures") == root.get("failures") == str(failing)
    assert suite.get("tests") == str(len(CHECK_DESCRIPTIONS) + 1)
    verdict = cases["sanitize.verdict"].find("failure")
    assert verdict.get("message") == sample_report.verdict() and verdict.get("type") == "exit code 1"


def test_junit_verdict_passes_when_the_gate_does(sample_report):
    """--max-errors tolerating every error: the verdict passes, the checks still name the errors."""
    tolerance = sample_report.error_count
    cases = _cases(sanitize.junit_xml(sample_report, 0, sample_report.verdict(tolerance)))
    assert cases["sanitize.verdict"].find("failure") is None
    assert cases["sanitize.verdict"].find("system-out").text.startswith("PASS:")
    assert cases["sanitize.decode"].find("failure") is not None


def _missing_list(tmp_path: Path, paths: list[str]) -> Path:
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{path} 0\n" for path in paths), encoding="utf-8")
    return listing


def test_junit_failure_body_is_capped_with_the_count_of_the_rest(tmp_path):
    extra = 7
    listing = _missing_list(tmp_path, [f"gone/{i:04d}.jpg" for i in range(MAX_LISTED + extra)])
    report = sanitize.scan(listing, num_classes=2, scheduler="synchronous")
    failure = _cases(sanitize.junit_xml(report, 1, report.verdict()))["sanitize.paths"].find("failure")
    lines = failure.text.splitlines()
    assert len(lines) == MAX_LISTED + 1
    assert lines[MAX_LISTED - 1].startswith(f"gone/{MAX_LISTED - 1:04d}.jpg: paths:missing")
    assert lines[-1] == f"... and {extra} more samples with paths errors (see findings.jsonl)"
    assert failure.get("message").startswith(f"{MAX_LISTED + extra:,} samples with paths errors")


def test_junit_holds_paths_xml_cannot_hold_as_escapes(tmp_path):
    names = ["esc\x1bape.jpg", "bell\x07.jpg", "a<b>&'\".jpg"]
    report = sanitize.scan(_missing_list(tmp_path, names), num_classes=2, scheduler="synchronous")
    document = sanitize.junit_xml(report, 1, report.verdict())
    text = _cases(document)["sanitize.paths"].find("failure").text
    assert [line.split(": ")[0] for line in text.splitlines()] == ["esc\\x1bape.jpg", "bell\\x07.jpg", "a<b>&'\".jpg"]
    assert schema_problems(ET.fromstring(document)) == []


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("50% done", "50%25 done", "50%25 done"),
        ("a\nb\rc", "a%0Ab%0Dc", "a%0Ab%0Dc"),
        ("decode:corrupt_data", "decode:corrupt_data", "decode%3Acorrupt_data"),
        ("a,b", "a,b", "a%2Cb"),
        ("%0A", "%250A", "%250A"),  # already escaped-looking text stays literal
        ("x::error::y", "x::error::y", "x%3A%3Aerror%3A%3Ay"),
    ],
)
def test_workflow_command_escaping(text, data, prop):
    assert escape_data(text) == data
    assert escape_property(text) == prop


def _github_run(tmp_path: Path, *args: str | Path, github: bool = True) -> tuple[subprocess.CompletedProcess, Path]:
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    env = cli_env()
    if github:
        env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    command = [sys.executable, "-m", "sanitize", "scan", *map(str, args)]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return done, summary


ANNOTATION = re.compile(r"^::(error|warning) title=([^:]+)::(.*)$")


def test_github_actions_annotations_and_step_summary(tmp_path):
    done, summary = _github_run(tmp_path, TRAIN, *SAMPLE_OPTIONS, "--out", "rep")
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in (tmp_path / "rep" / "findings.jsonl").read_text().splitlines()]
    expected = [
        (f["severity"], f"{f['check']}%3A{f['code']}", f"{r['path']}: {f['message']}")
        for severity in ("error", "warning")
        for r in records
        for f in r["findings"]
        if f["severity"] == severity
    ]
    shown = [ANNOTATION.match(line).groups() for line in done.stdout.splitlines() if line.startswith("::")]
    assert shown == [(kind, title, escape_data(message)) for kind, title, message in expected]
    assert len(shown) < ANNOTATIONS and "more findings not annotated" not in done.stdout
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### sanitize scan: FAIL\n")  # appended, never overwritten
    counts = json.loads((tmp_path / "rep" / "summary.json").read_text())["findings"]
    rows = dict(re.findall(r"^\| `([a-z_]+:[a-z_]+)` \| (?:error|warning) \| ([\d,]+) \|", text, re.MULTILINE))
    assert rows == {code: str(entry["samples"]) for code, entry in counts.items()}


def test_github_annotations_are_capped_and_absent_outside_github_actions(tmp_path):
    count = ANNOTATIONS + 12
    listing = _missing_list(tmp_path, [f"gone/{i}.jpg" for i in range(count)])
    args = (listing, "--num-classes", "2", "--scheduler", "synchronous")
    done, summary = _github_run(tmp_path, *args)
    commands = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(commands) == ANNOTATIONS and commands[0] == "::error title=paths%3Amissing::gone/0.jpg: no such file"
    assert f"sanitize: {count - ANNOTATIONS} more findings not annotated" in done.stdout
    assert f"| `paths:missing` | error | {count} |" in summary.read_text()  # the summary counts them all
    elsewhere, untouched = _github_run(tmp_path, *args, github=False)
    assert elsewhere.returncode == 1 and "::error" not in elsewhere.stdout
    assert untouched.read_text() == "earlier step\n"


def test_step_summary_cells_keep_pipes_and_backticks_inside_the_cell(sample_report):
    entry = next(iter(sample_report.summary.findings.values()))
    entry.examples[:] = ["a|b.jpg", "x`y.jpg"]
    text = step_summary(sample_report, 1, "FAIL")
    row = next(line for line in text.splitlines() if "a\\|b.jpg" in line)
    assert "`a\\|b.jpg`" in row and "``x`y.jpg``" in row
    assert len(re.split(r"(?<!\\)\|", row)) == 6  # four cells between the outer pipes


def test_junit_option_on_scan_and_audit(tmp_path):
    run = [sys.executable, "-m", "sanitize"]
    env = cli_env()
    scan = subprocess.run(
        [*run, "scan", TRAIN, *SAMPLE_OPTIONS, "--out", "rep", "--junit", "ci/junit.xml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert scan.returncode == 1, scan.stderr
    assert _cases((tmp_path / "ci" / "junit.xml").read_text())["sanitize.verdict"].find("failure") is not None
    audit = [*run, "audit", TRAIN, *SAMPLE_OPTIONS, "--db", "a.sqlite", "--out", "arep", "--junit", "audit.xml"]
    first = subprocess.run(audit, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    second = subprocess.run(audit, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert (first.returncode, second.returncode) == (1, 0), second.stderr
    cases = _cases((tmp_path / "audit.xml").read_text())
    # under --fail-on new the known errors no longer fail the gate, and the checks still name them
    assert cases["sanitize.verdict"].find("failure") is None
    assert "PASS (--fail-on new)" in cases["sanitize.verdict"].find("system-out").text
    assert cases["sanitize.decode"].find("failure") is not None


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("s3://bucket/junit.xml", "error: --junit writes a local file"),
        (".", "error: --junit names a folder"),
    ],
)
def test_junit_target_that_cannot_be_written_is_exit_2_before_the_scan(tmp_path, target, message):
    done = subprocess.run(
        [sys.executable, "-m", "sanitize", "scan", TRAIN, *SAMPLE_OPTIONS, "--out", "rep", "--junit", target],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith(message) and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "rep").exists()  # refused before the scan
