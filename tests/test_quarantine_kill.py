"""kill -9 at random moments: every file still ends up exactly once, byte-identical, in the dataset or QDIR.

Real `python -m sanitize quarantine/restore` processes are killed while they move a few hundred
files, on one filesystem and across two; then the next run (quarantine again, or restore) must
finish or roll back whatever was in flight.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import sanitize
from tests.quarantine_helpers import files_of, make_imagefolder, quarantined_files, scan_to, second_filesystem

GOOD, BAD = 100, 200
TRIALS = 20


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    top = tmp_path_factory.mktemp("kill")
    root = top / "data"
    make_imagefolder(root, good=GOOD, bad=BAD)
    scan_to(root, top / "report")
    return root, top / "report"


def _start(*args: str | Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sanitize", *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _journal_lines(journal: Path) -> int:
    try:
        return journal.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _kill_while_moving(process: subprocess.Popen, journal: Path, lines: int) -> None:
    """SIGKILL once the run has written `lines` more lines to its journal (each move writes two: its
    intent, then that it is done), or as it ends: a moment chosen by the run's progress, not by the
    clock, so that it falls among the moves on a fast machine and on a busy one alike."""
    start = _journal_lines(journal)
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        if _journal_lines(journal) - start >= lines:
            break
        time.sleep(0.0005)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _assert_nothing_lost(pristine: dict, root: Path, qdir: Path) -> None:
    """Right after a kill: every file is whole in one place at least (a copy may be in both)."""
    in_dataset, in_qdir = files_of(root), quarantined_files(qdir)
    for rel, content in pristine.items():
        assert in_dataset.get(rel) == content or in_qdir.get(rel) == content, rel


def _assert_exactly_once(pristine: dict, root: Path, qdir: Path) -> None:
    in_dataset, in_qdir = files_of(root), quarantined_files(qdir)
    assert not set(in_dataset) & set(in_qdir)
    assert {**in_dataset, **in_qdir} == pristine
    manifest = [json.loads(line) for line in (qdir / "manifest.jsonl").read_text().splitlines()]
    assert sorted(m["quarantined"] for m in manifest) == sorted(in_qdir)


def test_kill_at_random_moments_loses_nothing(dataset, tmp_path):
    root, report = dataset
    pristine = files_of(root)
    shm = second_filesystem(root)
    rng = random.Random(20261123)
    quarantine_cmd = ("quarantine", report, "--to")
    ops_seen = set()
    settled = 0  # trials where a kill left a move in flight that the next run had to settle
    midway = 0  # trials killed after some files had moved and before all had
    for trial in range(TRIALS):
        across = shm is not None and trial % 2 == 1
        with tempfile.TemporaryDirectory(dir=shm if across else tmp_path) as place:
            qdir = Path(place) / "q"
            op = "restore" if trial % 4 >= 2 else "quarantine"
            if op == "restore":
                assert sanitize.quarantine(report, qdir).exit_code == 0
                process = _start("restore", qdir)
            else:
                process = _start(*quarantine_cmd, qdir)
            # within the first 70% of the moves' journal lines, so that most kills land while files move
            _kill_while_moving(process, qdir / "journal.jsonl", lines=rng.randint(1, int(2 * BAD * 0.7)))
            ops_seen.add((op, across))
            _assert_nothing_lost(pristine, root, qdir)
            moved_so_far = len(quarantined_files(qdir))
            midway += 0 < moved_so_far < BAD

            if rng.random() < 0.5:  # the same command again finishes the job
                again = sanitize.quarantine(report, qdir)
                assert again.exit_code == 0, again.render()
                settled += bool(again.recovered)
                _assert_exactly_once(pristine, root, qdir)
                assert sorted(quarantined_files(qdir)) == sorted(p for p in pristine if p.startswith("bad/"))
            if (qdir / "journal.jsonl").exists():
                back = sanitize.restore(qdir)
                assert back.exit_code == 0, back.render()
                settled += bool(back.recovered)
                _assert_exactly_once(pristine, root, qdir)
            assert files_of(root) == pristine, f"trial {trial}: the dataset is not as it was"
    assert len(ops_seen) == (4 if shm else 2)
    assert midway >= TRIALS // 2, f"only {midway} of {TRIALS} runs were killed while moving"
    assert settled >= TRIALS // 4, f"only {settled} kills left a move in flight"


def test_two_runs_started_together_never_interleave(dataset, tmp_path):
    root, report = dataset
    pristine = files_of(root)
    qdir = tmp_path / "q"
    runs = [_start("quarantine", report, "--to", qdir) for _ in range(2)]
    results = [(run.wait(timeout=60), run.stderr.read().decode()) for run in runs]

    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for code, stderr in results:
        assert code == 0 or "locked by another sanitize" in stderr
    _assert_exactly_once(pristine, root, qdir)
    assert sorted(quarantined_files(qdir)) == sorted(p for p in pristine if p.startswith("bad/"))
    journal = [json.loads(line) for line in (qdir / "journal.jsonl").read_text().splitlines()]
    assert sum("op" in line for line in journal) == BAD  # each file moved once, by one of the runs
    assert sanitize.restore(qdir).exit_code == 0
    assert files_of(root) == pristine
