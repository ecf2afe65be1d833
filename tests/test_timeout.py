"""--sample-timeout: a sample whose check hangs is abandoned as decode:timeout, its worker replaced and
the rest of its batch re-run, on a real local cluster and on forked workers.

The decoder stand-ins hang inside check_batch's own loop (batch.load replaced in the worker), the
way a real decoder would: one sleeps with the GIL released, as Pillow's and libjpeg's C code run;
one sleeps inside a C call that holds the GIL, which only faulthandler's C watchdog can end.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sanitize import batch, pipeline, watchdog
from sanitize.config import ScanConfig
from sanitize.model import Sample
from tests.conftest import jpeg_bytes, run_cli
from tests.test_pipeline import ROOT, checked_indices, codes_by_path, linux_only, precut

HANG = "hang.jpg"


def _check_with_a_hanging_decoder(samples: list[Sample], real_root: Path, config: ScanConfig, hang) -> object:
    original = batch.load

    def load(sample: Sample, *args: object, **kwargs: object) -> object:
        if sample.path == HANG:
            hang()
        return original(sample, *args, **kwargs)

    batch.load = load
    try:
        return batch.check_batch(samples, real_root, config)
    finally:
        batch.load = original


def check_or_hang(samples: list[Sample], real_root: Path, config: ScanConfig) -> object:
    """check_batch, with a decoder that never returns (GIL released) on the sample named HANG."""
    return _check_with_a_hanging_decoder(samples, real_root, config, lambda: time.sleep(3600))


def check_or_hang_holding_the_gil(samples: list[Sample], real_root: Path, config: ScanConfig) -> object:
    """check_batch, with a decoder stuck in C code that holds the GIL on the sample named HANG."""
    return _check_with_a_hanging_decoder(samples, real_root, config, lambda: ctypes.PyDLL(None).sleep(3600))


@pytest.fixture
def samples(tmp_path: Path) -> list[Sample]:
    names = [f"{i}.jpg" for i in range(5)] + [HANG] + [f"{i}.jpg" for i in range(5, 9)]
    for name in names:
        (tmp_path / name).write_bytes(jpeg_bytes())
    return [Sample.under(tmp_path, i, name, "0") for i, name in enumerate(names)]


def _assert_only_the_hang_timed_out(results: list, samples: list[Sample], code: str = "timeout") -> None:
    assert sorted(checked_indices(results)) == [s.index for s in samples]  # every sample once
    by_path = codes_by_path(results, samples)
    assert by_path.pop(HANG) == [code]
    assert set(map(tuple, by_path.values())) == {()}


def test_a_hanging_sample_times_out_on_a_local_cluster_and_the_rest_of_its_batch_is_rerun(samples, tmp_path):
    results = []
    started = time.monotonic()
    with pipeline._client(None, 2) as client:
        batches = precut([samples[:7], samples[7:]], workers=2)
        pipeline.run_on_client(
            batches, tmp_path, ScanConfig(num_classes=1), client, results.append, check_or_hang, sample_timeout=1.0
        )
    _assert_only_the_hang_timed_out(results, samples)
    (timed_out,) = [r for result in results for r in result.flagged]
    assert "after 1" in timed_out.findings[0].message and timed_out.findings[0].severity == "error"
    status = (tmp_path / HANG).stat()  # with the stat quarantine verifies it by
    assert (timed_out.info.size, timed_out.info.mtime_ns) == (status.st_size, status.st_mtime_ns)
    assert time.monotonic() - started < 30  # named by its watchdog: no bisection, no hour-long sleep


@linux_only
def test_a_hanging_sample_times_out_on_forked_workers(samples, tmp_path):
    """In a fresh single-threaded process, as the CLI runs (forking is refused beside other threads)."""
    script = f"""
import json
from pathlib import Path
from sanitize import pipeline
from sanitize.config import ScanConfig
from sanitize.model import Sample
from tests.test_pipeline import codes_by_path
from tests.test_timeout import check_or_hang

samples = [Sample.under({str(tmp_path)!r}, i, name, "0") for i, name in enumerate({[s.path for s in samples]!r})]
results = []
used = pipeline.run(
    samples, Path({str(tmp_path)!r}), ScanConfig(num_classes=1), results.append, task=check_or_hang, sample_timeout=1.0
)
indices = sorted(i for r in results for i in [*r.clean.indices.tolist(), *(f.index for f in r.flagged)])
print(json.dumps([used, indices, codes_by_path(results, samples)]))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    used, indices, codes = json.loads(done.stdout.splitlines()[-1])
    assert used == "forked, local cluster"  # the rest of the dead workers' batches: re-run there
    assert indices == list(range(len(samples)))  # every sample once
    assert codes.pop(HANG) == ["timeout"] and set(map(tuple, codes.values())) == {()}


def test_a_decoder_holding_the_gil_is_ended_and_isolated_as_a_crash(samples, tmp_path):
    results = []
    with pipeline._client(None, 2) as client:
        batches = precut([samples[4:7], samples[:4] + samples[7:]], workers=2)
        pipeline.run_on_client(
            batches,
            tmp_path,
            ScanConfig(num_classes=1),
            client,
            results.append,
            check_or_hang_holding_the_gil,
            sample_timeout=0.5,
        )
    _assert_only_the_hang_timed_out(results, samples, code="crashed")


def check_slowly(samples: list[Sample], real_root: Path, config: ScanConfig) -> object:
    """check_batch, with a decoder that takes 0.3 s on the sample named HANG, then goes on."""
    return _check_with_a_hanging_decoder(samples, real_root, config, lambda: time.sleep(0.3))


def test_the_calling_process_never_runs_a_watchdog(samples, tmp_path):
    """In-process checking has no deadline: ending the process would end the caller."""
    results = []
    checked_by = pipeline.run(
        samples[4:7],
        tmp_path,
        ScanConfig(num_classes=1),
        results.append,
        scheduler="synchronous",
        task=check_slowly,
        sample_timeout=0.1,
    )
    assert checked_by == "synchronous" and watchdog._watchdog is None
    assert sorted(checked_indices(results)) == [4, 5, 6] and set(
        map(tuple, codes_by_path(results, samples).values())
    ) == {()}


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_negative_timeout_is_one_line_and_exit_2(tmp_path, value):
    done = subprocess.run(
        [sys.executable, "-m", "sanitize", "scan", str(tmp_path), "--num-classes", "2", "--sample-timeout", value],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--sample-timeout" in done.stderr


def test_a_later_run_without_a_limit_is_not_held_to_an_earlier_deadline(samples, tmp_path):
    """A standing cluster's worker keeps its watchdog between scans: a scan without a limit turns it off."""
    first, second = [], []
    with pipeline._client(None, 1) as client:
        config = ScanConfig(num_classes=1)
        pipeline.run_on_client(precut([samples[:2]], 1), tmp_path, config, client, first.append, sample_timeout=0.1)
        pipeline.run_on_client(precut([samples[4:7]], 1), tmp_path, config, client, second.append, check_slowly)
    assert set(map(tuple, codes_by_path(first + second, samples).values())) == {()}
    assert sorted(checked_indices(second)) == [4, 5, 6]


def test_a_real_slow_decode_times_out_through_the_command_line(tmp_path):
    """An 8000x8000 PNG takes Pillow about half a second: over a 0.05 s limit, under the default."""
    from PIL import Image

    for cls in ("big", "small"):
        (tmp_path / "data" / cls).mkdir(parents=True)
    Image.new("RGB", (8000, 8000)).save(tmp_path / "data" / "big" / "slow.png")
    (tmp_path / "data" / "small" / "quick.jpg").write_bytes(jpeg_bytes())
    strict = run_cli("scan", "data", "--out", "strict", "--sample-timeout", "0.05", cwd=tmp_path)
    assert strict.returncode == 1, strict.stderr
    (record,) = [json.loads(line) for line in (tmp_path / "strict" / "findings.jsonl").read_text().splitlines()]
    assert record["path"] == "big/slow.png" and [f["code"] for f in record["findings"]] == ["timeout"]
    assert (tmp_path / "strict" / "clean.txt").read_text().split() == ["small/quick.jpg", "1"]
    default = run_cli("scan", "data", "--out", "default", cwd=tmp_path)
    assert default.returncode == 0, default.stderr
