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


def _kill_while_moving(process: subprocess.Popen, journal: Path, rng: random.Random, window: float) -> None:
    """SIGKILL at a random moment after the run has started writing its journal (or as it ends)."""
    size = journal.stat().st_size if journal.exists() else 0
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        if journal.exists() and journal.stat().st_size > size:
            break
        time.sleep(0.001)
    time.sleep(rng.uniform(0, window))
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


def _moving_time(report: Path, qdir: Path) -> float:
    """How long an unkilled quarantine spends moving (from its journal's first line to its exit),
    so that the kills below land while files move on a fast machine and on a slow one alike."""
    process = _start("quarantine", report, "--to", qdir)
    while process.poll() is None and not (qdir / "journal.jsonl").exists():
        time.sleep(0.001)
    started = time.monotonic()
    process.wait()
    moving = time.monotonic() - started
    assert sanitize.restore(qdir).exit_code == 0
    return moving


def test_kill_at_random_moments_loses_nothing(dataset, tmp_path):
    root, report = dataset
    pristine = files_of(root)
    window = _moving_time(report, tmp_path / "calibration")
    assert files_of(root) == pristine
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
            # the measured time ends with work after the last move (manifest, clean list): kill within 70% of it
            _kill_while_moving(process, qdir / "journal.jsonl", rng, window=0.7 * window)
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
