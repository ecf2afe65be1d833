"""The Dask pipeline on a real LocalCluster: batching, crash isolation, a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sanitize
from sanitize import pipeline
from sanitize.config import ScanConfig
from sanitize.types import Sample
from tests.conftest import jpeg_bytes

ROOT = Path(__file__).resolve().parents[1]


def check_or_die(samples: list[Sample], real_root: Path, config: ScanConfig):
    """A batch task that kills its worker process outright on the sample named 'boom.jpg'."""
    if any(s.path == "boom.jpg" for s in samples):
        os._exit(1)
    return pipeline.check_batch(samples, real_root, config)


def test_batches_are_bounded_and_balanced():
    samples = [Sample(i, f"{i}.jpg", f"{i}.jpg", "0") for i in range(1000)]
    parts = pipeline.batches(samples, workers=2)
    assert max(map(len, parts)) == pipeline.MAX_BATCH
    assert [s for part in parts for s in part] == samples
    assert len(pipeline.batches(samples[:10], workers=2)) == 10 // 2
    assert pipeline.batches([], workers=2) == []


def test_a_sample_that_kills_its_worker_is_isolated_and_the_scan_goes_on(tmp_path):
    names = [f"{i}.jpg" for i in range(11)] + ["boom.jpg"]
    for name in names:
        (tmp_path / name).write_bytes(jpeg_bytes())
    samples = [Sample.under(tmp_path, i, name, "0") for i, name in enumerate(names)]
    results = []
    with pipeline._client(None, 2) as client:
        pipeline.run_on_client(
            [samples[:6], samples[6:]], tmp_path, ScanConfig(num_classes=1), client, results.extend, check_or_die
        )
    assert sorted(r.index for r in results) == list(range(12))
    by_path = {r.path: [f.code for f in r.findings] for r in results}
    assert by_path["boom.jpg"] == ["crashed"]
    assert all(codes == [] for path, codes in by_path.items() if path != "boom.jpg")


def test_the_callers_environment_is_left_as_it_was(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(jpeg_bytes())
    before = dict(os.environ)
    sanitize.scan(tmp_path, workers=1)
    assert dict(os.environ) == before


def test_a_script_without_a_main_guard_runs_once(tmp_path):
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "data" / "a" / "x.jpg").write_bytes(jpeg_bytes())
    script = tmp_path / "train.py"
    script.write_text(
        "import sanitize\n"
        "with open('runs.log', 'a') as log:\n"
        "    log.write('ran\\n')\n"
        "report = sanitize.scan('data', workers=2)\n"
        "print('valid', report.valid)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "valid True"
    assert (tmp_path / "runs.log").read_text() == "ran\n"


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
        assert report.summary["runner"]["scheduler"] == cluster.scheduler_address
        assert [r.path for r in report.flagged] == ["a/bad.jpg"]
        assert cluster.scheduler.status.name == "running"
