"""JUnit XML for CI test reports: GitLab's unit test reports (`artifacts:reports:junit`) and
Jenkins' `junit` step read it and show which checks failed on which samples.

One `<testcase>` per check of the catalogue (classname `sanitize.<check>`, name the check), so a
check that passed shows as a passed test and a CI's history of a check is kept from run to run
(both key a test by classname and name); it fails when a sample has an error from that check, the
failure's body listing those samples (the first MAX_LISTED, then how many more). One more
testcase, `sanitize.verdict`, fails when the gate does (the exit code), so a run tolerated by
--max-errors, or an audit under --fail-on new, passes there while the checks still name every
error. Warnings go to the testcase's `<system-out>`: both CIs show it beside the test, while
properties are not allowed on a testcase by the Jenkins schema and GitLab's parser ignores them.

The shape follows the schema Jenkins' parser is written against (jenkins-junit.xsd, kept in the
JUnit 5 repository: platform-tests/src/test/resources/jenkins-junit.xsd) and GitLab's documented
subset (docs.gitlab.com/ci/testing/unit_test_reports: testsuites > testsuite > testcase, with
failure and system-out). The file is local: a CI reads test reports from the job's workspace.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sanitize.errors import SanitizeError
from sanitize.findings import CHECK_DESCRIPTIONS, Finding
from sanitize.model import SampleResult
from sanitize.remote import is_url
from sanitize.report import Report
from sanitize.report.files import xml_text
from sanitize.storage import atomic_write_text, make_folder

#: Samples listed in a failure's body (and in a system-out of warnings); the rest are counted.
MAX_LISTED = 100


@dataclass
class _Samples:
    """How many samples, and the first MAX_LISTED of them as `path: code: message` lines: a big
    scan's flagged samples are never all held (2M flagged would be hundreds of MB of text)."""

    count: int = 0
    listed: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(line)

    def listing(self, what: str) -> str:
        more = self.count - len(self.listed)
        tail = [f"... and {more:,} more sample{'s' if more > 1 else ''} {what} (see findings.jsonl)"] if more else []
        return xml_text("\n".join([*self.listed, *tail]))


@dataclass
class _Check:
    """One check's samples with errors and with warnings, and its error codes."""

    errors: _Samples = field(default_factory=_Samples)
    codes: dict[str, None] = field(default_factory=dict)
    warnings: _Samples = field(default_factory=_Samples)


def _lines(result: SampleResult, findings: list[Finding]) -> str:
    return "\n".join(f"{result.path}: {f.name}: {f.message}" for f in findings)


def _by_check(flagged: Iterable[SampleResult]) -> dict[str, _Check]:
    checks = {name: _Check() for name in CHECK_DESCRIPTIONS}
    for result in flagged:
        for name, check in checks.items():
            mine = [f for f in result.findings if f.check == name]
            errors = [f for f in mine if f.is_error]
            if errors:
                check.errors.add(_lines(result, errors))
                check.codes.update(dict.fromkeys(f.name for f in errors))
            if len(mine) > len(errors):
                check.warnings.add(_lines(result, [f for f in mine if not f.is_error]))
    return checks


def _samples(count: int) -> str:
    return f"{count:,} sample{'' if count == 1 else 's'}"


def junit_xml(report: Report, exit_code: int, verdict: str) -> str:
    """The JUnit XML document of a scan's report; `exit_code` and `verdict` are the gate's (e.g.
    `report.exit_code(max_errors)` and `report.verdict(max_errors)`, or an audit's)."""
    checks = _by_check(report.flagged)
    suite = ET.Element("testsuite", name="sanitize")
    properties = ET.SubElement(suite, "properties")
    dataset = report.summary.dataset
    for name, value in (("dataset", dataset.source), ("task", dataset.task), ("exit_code", str(exit_code))):
        ET.SubElement(properties, "property", name=name, value=xml_text(value))
    failures = 0
    for name, check in checks.items():
        case = ET.SubElement(suite, "testcase", classname=f"sanitize.{name}", name=name)
        if check.errors.count:
            failures += 1
            message = f"{_samples(check.errors.count)} with {name} errors: {', '.join(check.codes)}"
            failure = ET.SubElement(case, "failure", message=message, type=", ".join(check.codes))
            failure.text = check.errors.listing(f"with {name} errors")
        if check.warnings.count:
            out = ET.SubElement(case, "system-out")
            out.text = f"{_samples(check.warnings.count)} with {name} warnings:\n" + check.warnings.listing(
                f"with {name} warnings"
            )
    elapsed = f"{report.summary.elapsed_seconds:.3f}"
    case = ET.SubElement(suite, "testcase", classname="sanitize.verdict", name="verdict", time=elapsed)
    if exit_code:
        failures += 1
        ET.SubElement(case, "failure", message=verdict, type=f"exit code {exit_code}").text = verdict
    else:
        ET.SubElement(case, "system-out").text = verdict
    tests = str(len(checks) + 1)
    suite.attrib.update(tests=tests, failures=str(failures), errors="0", skipped="0", time=elapsed)
    root = ET.Element("testsuites", name="sanitize", tests=tests, failures=str(failures), errors="0", time=elapsed)
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def junit_target(path: Path | str) -> Path:
    """Where --junit writes, its folder made now (before the scan, not after it), or a one-line
    SanitizeError: a URL is refused, since a CI reads test reports from the job's workspace."""
    if is_url(str(path)):
        raise SanitizeError(f"--junit writes a local file (a CI reads test reports from its workspace), got {path}")
    target = Path(path)
    make_folder(target.parent, "--junit folder")
    if target.is_dir():
        raise SanitizeError(f"--junit names a folder, not a file: {path}")
    return target


def write_junit(report: Report, path: Path | str, exit_code: int, verdict: str) -> None:
    """Write junit_xml() to the local file `path`, atomically (a CI never reads half a report)."""
    target = junit_target(path)
    try:
        atomic_write_text(target, junit_xml(report, exit_code, verdict))
    except OSError as exc:
        raise SanitizeError(f"cannot write the JUnit report {path}: {exc.strerror or exc}") from None
