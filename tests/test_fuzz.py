"""A small seeded fuzzing run (tests/fuzzing.py): mutated files of every accepted format never
raise, hang, go missing from a report or change verdict between two runs. Long runs:
benchmarks/fuzz.py (docs/fuzzing.md)."""

from __future__ import annotations

import json
import random

import pytest

from sanitize.config import ScanConfig
from sanitize.formats import EXTENSION_FORMATS
from sanitize.model import Sample
from tests import fuzzing
from tests.fuzzing import MUTATIONS, Case, Hang, Problem

#: Corpus files among the seeds when ../shared/corpus is present (the smallest ones).
CORPUS_SEEDS = 24


@pytest.fixture(scope="module")
def pools():
    return [
        (fuzzing.image_seeds(), False),
        (fuzzing.corpus_seeds(CORPUS_SEEDS), False),
        (fuzzing.mask_seeds(), True),
    ]


def test_the_seeds_cover_every_accepted_format_and_none_is_an_error(pools, tmp_path):
    images, _, masks = (files for files, _ in pools)
    assert {EXTENSION_FORMATS[name[name.rfind(".") :]] for name in images} == set(EXTENSION_FORMATS.values())
    seeds = [Case(name, data) for name, data in images.items()] + [Case(n, d, True) for n, d in masks.items()]
    dataset = fuzzing.write_dataset(tmp_path, seeds)
    verdicts, problems = fuzzing.scan_twice(dataset, timeout=120)
    assert problems == []
    assert len(verdicts) == len(seeds)
    # the seeds are one picture in every format and mode, each under its own label: what is said of them
    # is only what is true of such a set (near duplicates under other labels, CMYK, animation, a minority
    # mode), never an error
    said = {finding for verdict in verdicts.values() for finding in verdict}
    assert said and all(finding.endswith(":warning") for finding in said), said
    assert {finding.split(":")[0] for finding in said} <= {"duplicate", "mode"}, said


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_mutation_is_seeded_and_changes_the_file(name):
    data, donor = fuzzing.image_seeds()["baseline.jpg"], fuzzing.image_seeds()["rgb.png"]
    outputs = [MUTATIONS[name](data, donor, random.Random(seed)) for seed in (7, 7, 8)]
    assert outputs[0] == outputs[1]
    assert data not in outputs[:1] and outputs[0] != outputs[2]


def test_the_cases_are_seeded_and_use_every_mutation_and_pool(pools):
    first, again = fuzzing.cases(pools, 200, seed=3), fuzzing.cases(pools, 200, seed=3)
    assert first == again != fuzzing.cases(pools, 200, seed=4)
    used = {kind for case in first for kind in case.name.split("-")[2].split("+")}
    assert used == set(MUTATIONS)
    assert any(case.mask for case in first) and any(not case.mask for case in first)


def test_a_seeded_run_finds_no_problem(pools, tmp_path):
    """A few hundred mutated files: check_batch twice in process (each file within its budget),
    then `sanitize scan` twice over the image folder and the pairs list."""
    cases = fuzzing.cases(pools, 300, seed=20261129)
    dataset = fuzzing.write_dataset(tmp_path, cases)
    assert fuzzing.check_in_process(dataset, budget=5) == []
    verdicts, problems = fuzzing.scan_twice(dataset, timeout=120)
    assert problems == []
    assert len(verdicts) == len(cases)
    assert sum(map(fuzzing.is_error, verdicts.values())) > len(cases) / 2


# The harness itself: it must see what it looks for.


def test_a_check_that_raises_is_a_problem(tmp_path):
    """A sample whose file is not a name makes a check raise inside check_batch: an internal:* finding."""
    broken = Sample(0, "x.jpg", 1234, "0")  # type: ignore[arg-type]
    problems = fuzzing.check_twice([broken], tmp_path, ScanConfig(num_classes=2), budget=5)
    assert [(p.kind, p.detail.split(":")[0]) for p in problems] == [("internal", "internal")]


def test_the_time_budget_interrupts_a_loop():
    with pytest.raises(Hang), fuzzing.time_budget(0.2):
        while True:
            pass


@pytest.mark.parametrize(
    "findings, clean, kind",
    [
        ([("a.jpg", "error"), ("a.jpg", "error")], [], "report"),  # listed twice
        ([("a.jpg", "error")], ["a.jpg 0"], "report"),  # an error in clean.txt
        ([("a.jpg", "warning")], [], "report"),  # no error, yet not clean
        ([], [], "report"),  # missing
        ([("b.jpg", "error")], ["a.jpg 0"], "report"),  # foreign
    ],
)
def test_a_report_that_breaks_the_rules_is_a_problem(tmp_path, findings, clean, kind):
    records = [
        {"path": path, "findings": [{"check": "decode", "code": "x", "severity": severity}]}
        for path, severity in findings
    ]
    (tmp_path / "findings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "clean.txt").write_text("".join(line + "\n" for line in clean))
    _, problems = fuzzing.report_problems(tmp_path, {"a.jpg": tmp_path / "a.jpg"})
    assert kind in {p.kind for p in problems}
    assert all(isinstance(p, Problem) for p in problems)
