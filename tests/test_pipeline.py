"""The Dask pipeline on a real LocalCluster and forked workers: batching, crash isolation, a clean environment."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import sanitize
from sanitize import batch, batching, pipeline
from sanitize.config import ScanConfig
from sanitize.model import Member, Sample
from tests.conftest import jpeg_bytes

ROOT = Path(__file__).resolve().parents[1]
#: Small runs are forked on Linux only; elsewhere they start a local cluster like any other.
FORKED = "forked" if sys.platform == "linux" else "local cluster"
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="forked workers are Linux-only")


def codes_by_path(batches: list, samples: list[Sample]) -> dict[str, list[str]]:
    """Each checked sample's finding codes, from the batches' results (clean ones have none)."""
    found = {}
    for result in batches:
        found |= {samples[i].path: [] for i in result.clean.indices.tolist()}
        found |= {r.path: [f.code for f in r.findings] for r in result.flagged}
    return found


def checked_indices(batches: list) -> list[int]:
    """Every sample index the batches' results hold, clean and flagged."""
    return [i for r in batches for i in [*r.clean.indices.tolist(), *(f.index for f in r.flagged)]]


def precut(batches: list[list[Sample]], workers: int) -> batching.Batches:
    """Batches already cut, handed out as they are."""
    made = batching.Batches((), workers, total=0)
    made.give_back(*batches)
    return made


def check_or_die(samples: list[Sample], real_root: Path, config: ScanConfig):
    """A batch task that kills its worker process outright on the sample named 'boom.jpg'."""
    if any(s.path == "boom.jpg" for s in samples):
        os._exit(1)
    return batch.check_batch(samples, real_root, config)


def _cut(batches: batching.Batches, seconds_per_sample: float) -> list[list[Sample]]:
    """Every batch, each timed as if a worker took `seconds_per_sample` a sample."""
    cut = []
    while batch := batches.next():
        batches.timed(len(batch), seconds_per_sample * len(batch))
        cut.append(batch)
    return cut


def test_batches_are_sized_by_the_time_a_sample_takes_and_shrink_at_the_end():
    samples = [Sample(i, f"{i}.jpg", f"{i}.jpg", "0") for i in range(100_000)]
    tiny = _cut(batching.Batches(samples, workers=2, total=len(samples)), seconds_per_sample=50e-6)
    assert [s for part in tiny for s in part] == samples  # every sample once, in order
    assert len(tiny[0]) == batching.FIRST_BATCH and max(map(len, tiny)) == batching.MAX_BATCH
    # the last batches shrink, so the workers finish together, to one sample; but below TAIL_SECONDS
    # of work they only halve (a share for each worker), for a task has a fixed cost: 11 tasks, not 27
    floor = batching.TAIL_SECONDS / 50e-6
    assert len(tiny[-1]) == 1 and sum(len(batch) < floor for batch in tiny[1:]) <= math.log2(floor) + 2
    photos = _cut(batching.Batches(samples[:5000], workers=2, total=5000), seconds_per_sample=2e-3)
    assert max(map(len, photos)) == batching.TARGET_SECONDS / 2e-3
    floor = batching.TAIL_SECONDS / 2e-3
    assert len(photos[-1]) == 1 and sum(len(batch) < floor for batch in photos[1:]) <= math.log2(floor) + 2
    small = batching.Batches(samples[:10], workers=2, total=10)
    first = [small.next() for _ in range(2 * batching.IN_FLIGHT_PER_WORKER)]  # in flight before any is timed
    assert max(map(len, first)) <= 2  # a small run still spreads over the workers
    small.timed(2, 2e-3)
    assert [len(small.next()), len(small.next())] == [2, 1]  # the 3 left go to both workers, however short
    assert batching.Batches([], workers=2, total=0).next() is None


@pytest.mark.parametrize(
    "batch",
    [
        pytest.param([], id="empty"),
        pytest.param([Sample(0, "a.jpg", "/d/a.jpg", "1")], id="one"),
        pytest.param(
            [
                Sample(3, "x/é.png", "/d/x/é.png", None, "m.png", "/d/m.png"),
                Sample(7, "k", "/d/s.tar", "2", member=Member("tar", "k", "k.jpg", 512, 99, ("corrupt", "why"))),
            ],
            id="masks, members, no label",
        ),
    ],
)
def test_a_packed_batch_unpacks_to_the_same_samples(batch):
    samples = batching.unpacked(batching.packed(batch))
    assert samples == batch and all(type(s) is Sample for s in samples)
    assert [type(s.member) for s in samples] == [type(s.member) for s in batch]


def test_batches_draw_samples_only_as_they_are_cut():
    drawn = []

    def listing():
        for i in range(1000):
            drawn.append(i)
            yield Sample(i, f"{i}.jpg", f"{i}.jpg", "0")

    batches = batching.Batches(listing(), workers=2)
    first = batches.next()
    assert len(first) == batching.FIRST_BATCH and len(drawn) == batching.FIRST_BATCH
    batches.give_back(first[:10])
    assert batches.next() == first[:10]  # handed back: out first, as it was


def test_a_sample_that_kills_its_worker_is_isolated_and_the_scan_goes_on(tmp_path):
    names = [f"{i}.jpg" for i in range(11)] + ["boom.jpg"]
    for name in names:
        (tmp_path / name).write_bytes(jpeg_bytes())
    samples = [Sample.under(tmp_path, i, name, "0") for i, name in enumerate(names)]
    results = []
    with pipeline._client(None, 2) as client:
        batches = precut([samples[:6], samples[6:]], workers=2)
        pipeline.run_on_client(batches, tmp_path, ScanConfig(num_classes=1), client, results.append, check_or_die)
    assert sorted(i for r in results for i in [*r.clean.indices.tolist(), *(f.index for f in r.flagged)]) == list(
        range(12)
    )
    by_path = codes_by_path(results, samples)
    assert by_path["boom.jpg"] == ["crashed"]
    (crashed,) = [r for batch in results for r in batch.flagged]  # with the stat quarantine verifies it by
    status = (tmp_path / "boom.jpg").stat()
    assert (crashed.info.size, crashed.info.mtime_ns) == (status.st_size, status.st_mtime_ns)
    assert all(codes == [] for path, codes in by_path.items() if path != "boom.jpg")


def test_batches_that_crash_one_after_another_do_not_end_the_run_early(tmp_path):
    """Two single-sample batches that kill their workers fill the whole window (one worker, two
    tasks in flight): the samples not yet drawn must still be checked, not silently skipped."""
    names = ["boom.jpg", "boom.jpg"] + [f"{i}.jpg" for i in range(8)]
    for name in set(names):
        (tmp_path / name).write_bytes(jpeg_bytes())
    samples = [Sample.under(tmp_path, i, name, "0") for i, name in enumerate(names)]
    batches = batching.Batches(samples[2:], workers=1, total=8)
    batches.give_back([samples[0]], [samples[1]])
    results = []
    with pipeline._client(None, 1) as client:
        pipeline.run_on_client(batches, tmp_path, ScanConfig(num_classes=1), client, results.append, check_or_die)
    assert sorted(checked_indices(results)) == list(range(10))
    assert codes_by_path(results, samples) == {"boom.jpg": ["crashed"], **{f"{i}.jpg": [] for i in range(8)}}


def test_a_count_that_fell_short_does_not_shrink_every_later_batch():
    """A list that grew after it was counted: past the count, batches keep their measured size."""
    samples = [Sample(i, f"{i}.jpg", f"{i}.jpg", "0") for i in range(5000)]
    cut = _cut(batching.Batches(samples, workers=2, total=100), seconds_per_sample=1e-3)
    assert sum(map(len, cut)) == 5000 and len(cut) < 100


def test_the_callers_environment_is_left_as_it_was(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(jpeg_bytes())
    before = dict(os.environ)
    report = sanitize.scan(tmp_path, workers=1, scheduler="local")
    assert report.summary.runner.checked_by == "local cluster"
    assert dict(os.environ) == before


@pytest.mark.parametrize("scheduler", ["local", None])
def test_a_script_without_a_main_guard_runs_once(tmp_path, scheduler):
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "data" / "a" / "x.jpg").write_bytes(jpeg_bytes())
    script = tmp_path / "train.py"
    script.write_text(
        "import sanitize\n"
        "with open('runs.log', 'a') as log:\n"
        "    log.write('ran\\n')\n"
        f"report = sanitize.scan('data', workers=2, scheduler={scheduler!r})\n"
        "print('valid', report.valid, report.summary.runner.checked_by)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"valid True {FORKED if scheduler is None else 'local cluster'}"
    assert (tmp_path / "runs.log").read_text() == "ran\n"


@linux_only
def test_forked_workers_hand_back_the_batches_left_when_one_dies(tmp_path):
    """One worker runs the batches in turn: the first is checked, the one with boom.jpg kills the
    worker, and it and the batch after it come back unchecked."""
    names = [f"{i}.jpg" for i in range(4)] + ["boom.jpg"] + [f"{i}.jpg" for i in range(4, 6)]
    for name in names:
        (tmp_path / name).write_bytes(jpeg_bytes())
    samples = [Sample.under(tmp_path, i, name, "0") for i, name in enumerate(names)]
    todo = [samples[:3], samples[3:5], samples[5:]]
    results = []
    batches = precut(todo, workers=1)
    left = pipeline.run_forked(batches, tmp_path, ScanConfig(num_classes=1), 1, results.append, check_or_die)
    assert codes_by_path(results, samples) == {"0.jpg": [], "1.jpg": [], "2.jpg": []}
    assert sorted(left, key=lambda batch: batch[0].index) == todo[1:]


@linux_only
def test_a_small_run_is_forked_and_a_crash_there_is_isolated_on_a_local_cluster(tmp_path):
    """In a fresh single-threaded process, as the CLI runs: the forked workers check the batches
    until boom.jpg kills one; a local cluster then checks what was left and isolates boom.jpg."""
    names = [f"{i}.jpg" for i in range(11)] + ["boom.jpg"]
    for name in names:
        (tmp_path / name).write_bytes(jpeg_bytes())
    script = f"""
import json
from pathlib import Path
from sanitize import pipeline
from sanitize.config import ScanConfig
from sanitize.model import Member, Sample
from tests.test_pipeline import check_or_die, codes_by_path

samples = [Sample.under({str(tmp_path)!r}, i, name, "0") for i, name in enumerate({names!r})]
results = []
used = pipeline.run(samples, Path({str(tmp_path)!r}), ScanConfig(num_classes=1), results.append, task=check_or_die)
print(json.dumps([used, sorted(codes_by_path(results, samples).items())]))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    used, results = json.loads(done.stdout.splitlines()[-1])
    assert used == "forked, local cluster"
    assert results == sorted([name, ["crashed"] if name == "boom.jpg" else []] for name in names)  # every one once


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaps does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in "ZX"


#: Forked workers that stall (write their pid file, sleep a minute) under `run_forked`; with
#: `ignore-sigterm` the caller ignores SIGTERM and the second batch kills its worker instead.
STALLING = """
import os, signal, sys, time
from pathlib import Path
from sanitize import batching, pipeline
from sanitize.config import ScanConfig
from sanitize.model import Member, Sample

HERE = Path(sys.argv[1])

def stall(samples, real_root, config):
    (HERE / f"{os.getpid()}.pid").touch()
    if samples[0].path == "boom.jpg":
        while len(list(HERE.glob("*.pid"))) < 2:
            time.sleep(0.01)
        os._exit(1)
    time.sleep(60)

if sys.argv[2] == "ignore-sigterm":
    signal.signal(signal.SIGTERM, lambda *args: None)
names = ["x.jpg", "boom.jpg" if sys.argv[2] == "ignore-sigterm" else "y.jpg"]
started = time.monotonic()
todo = [[Sample(i, name, name, "0")] for i, name in enumerate(names)]
from tests.test_pipeline import precut
left = pipeline.run_forked(precut(todo, 2), Path("."), ScanConfig(num_classes=1), 2, print, stall)
print(len(left), time.monotonic() - started)
"""


def _start_stalling(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, list[int]]:
    """The STALLING script in its own session, once both forked workers have started."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", STALLING, str(tmp_path), mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return parent, [int(pid_file.stem) for pid_file in tmp_path.glob("*.pid")]


def _gone(pids: list[int], within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(map(_alive, pids))


@linux_only
def test_forked_workers_die_with_the_process_that_forked_them(tmp_path):
    """kill -9 of a scan or audit must not leave its forked workers waiting forever (holding the
    files it had open, such as an audit store's lock)."""
    parent, workers = _start_stalling(tmp_path, "kill")
    try:
        assert len(workers) == 2 and all(map(_alive, workers))
    finally:
        parent.kill()
        parent.communicate()
    assert _gone(workers)


@linux_only
def test_ctrl_c_stops_at_once_with_one_traceback_and_no_worker_left(tmp_path):
    """SIGINT to the whole process group, as a terminal sends it: the caller stops without waiting
    for the batches under way; the workers neither print nor survive."""
    parent, workers = _start_stalling(tmp_path, "ctrl-c")
    assert len(workers) == 2
    started = time.monotonic()
    os.killpg(parent.pid, signal.SIGINT)
    _, stderr = parent.communicate(timeout=30)
    assert time.monotonic() - started < 10 and parent.returncode != 0
    assert stderr.count("KeyboardInterrupt") == 1, stderr
    assert _gone(workers)


@linux_only
def test_a_crash_hands_over_at_once_even_if_the_caller_ignores_sigterm(tmp_path):
    """The pool stops its other workers with SIGTERM when one dies; a training script's own
    SIGTERM handler must not keep them (and the handover) waiting a minute."""
    parent, workers = _start_stalling(tmp_path, "ignore-sigterm")
    stdout, stderr = parent.communicate(timeout=60)
    assert parent.returncode == 0, stderr
    left, seconds = stdout.split()
    assert left == "2" and float(seconds) < 20
    assert _gone(workers)


@pytest.mark.parametrize("workers", [0, -1])
def test_bad_worker_count(tmp_path, workers):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(jpeg_bytes())
    with pytest.raises(sanitize.SanitizeError, match="--workers must be at least 1"):
        sanitize.scan(tmp_path, workers=workers)


def test_an_existing_dask_scheduler_is_used_by_address(tmp_path):
    """--scheduler ADDRESS: the scan runs on a cluster it did not start, and leaves it running."""
    from distributed import LocalCluster

    (tmp_path / "a").mkdir()
    for i in range(5):
        (tmp_path / "a" / f"{i}.jpg").write_bytes(jpeg_bytes(seed=i))
    (tmp_path / "a" / "bad.jpg").write_bytes(b"<html></html>")
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        report = sanitize.scan(tmp_path, scheduler=cluster.scheduler_address)
        assert report.summary.runner.scheduler == cluster.scheduler_address
        assert [r.path for r in report.flagged] == ["a/bad.jpg"]
        assert cluster.scheduler.status.name == "running"


def test_a_local_cluster_listens_on_loopback_only_and_leaves_the_dashboard_port_alone():
    """Nothing of a local scan is reachable from the network, and it does not reach for 8787, the port
    of the user's own Dask dashboard (distributed's default for the scheduler's HTTP server: it warned
    "Port 8787 is already in use" whenever a user's cluster or a second scan held it)."""
    import psutil

    with socket.socket() as held, warnings.catch_warnings(record=True) as caught:
        with contextlib.suppress(OSError):  # taken already: by someone else, the very case tested
            held.bind(("127.0.0.1", 8787))
            held.listen()
        warnings.simplefilter("always")
        with pipeline._client(None, 2) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            me = psutil.Process()
            listening = [
                connection.laddr.ip
                for process in (me, *me.children(recursive=True))
                for connection in process.net_connections(kind="inet")
                if connection.status == psutil.CONN_LISTEN
            ]
    assert listening and set(listening) <= {"127.0.0.1", "::1"}
    assert not [w for w in caught if "8787" in str(w.message)]


def test_samples_in_flight_are_bounded_whatever_the_cluster_size(tmp_path):
    """Two tasks a thread of a big cluster could hold millions of samples in this process: no more
    than max_in_flight samples are out at once (one task at least), and every sample is checked."""
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes())
    samples = [Sample.under(tmp_path, i, "a.jpg", "0") for i in range(60)]
    handed, completed, most = [0], [0], [0]

    class Counted(batching.Batches):
        def next(self) -> list[Sample] | None:
            batch = super().next()
            handed[0] += len(batch or ())
            most[0] = max(most[0], handed[0] - completed[0])
            return batch

    def done(result) -> None:
        completed[0] += len(checked_indices([result]))

    batches = Counted([], workers=4, total=0)
    batches.give_back(*[samples[i : i + 10] for i in range(0, 60, 10)])
    with pipeline._client(None, 2) as client:
        pipeline.run_on_client(batches, tmp_path, ScanConfig(num_classes=1), client, done, max_in_flight=15)
    assert completed[0] == 60
    assert most[0] <= 20  # one task of 10 beyond the bound at most: 15 reached, then no more
