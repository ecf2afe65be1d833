"""Audits against a real SQLite store: reuse, the diff, configuration changes, kill -9, locking, the CLI."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sanitize
from sanitize import batch
from sanitize.audit.reuse import FILE_FIELDS, MASK_FIELDS, PROBE_FIELDS, Fingerprints, identity_of, stored_row
from sanitize.audit.store import UPSERT
from sanitize.config import ScanConfig
from tests.conftest import cli_env, image_folder, jpeg_bytes, photo, png_bytes, run_cli
from tests.segmentation_helpers import save, square_mask, write_pair

REPO = Path(__file__).resolve().parents[1]
NOT_AN_IMAGE = b"<!doctype html><html><body>rate limited</body></html>"
#: Summary entries that differ between any two runs (timing, how it ran).
VOLATILE = ("elapsed_seconds", "samples_per_second", "runner")
NO_CHANGES = dict.fromkeys(("added", "removed", "newly_failing", "fixed", "changed"), 0)


def run_audit(source: Path, db: Path, **kwargs) -> sanitize.AuditReport:
    return sanitize.audit(source, db, scheduler="synchronous", **kwargs)


def garble(files: list[Path]) -> None:
    """Overwrite every file with bytes no decoder accepts, keeping its size and mtime_ns."""
    for file in files:
        status = file.stat()
        file.write_bytes(b"\x00garbage" * (status.st_size // 8) + b"\x00" * (status.st_size % 8))
        os.utime(file, ns=(status.st_atime_ns, status.st_mtime_ns))
        assert file.stat().st_mtime_ns == status.st_mtime_ns and file.stat().st_size == status.st_size


def rewrite(file: Path, data: bytes) -> None:
    """Replace a file's bytes and move its mtime on by a second, as a later edit would."""
    before = file.stat().st_mtime_ns
    file.write_bytes(data)
    os.utime(file, ns=(before + 10**9, before + 10**9))


def rows(db: Path) -> dict[str, tuple]:
    with sqlite3.connect(db) as conn:
        return {row[0]: row[1:] for row in conn.execute("SELECT key, findings, base_error FROM samples")}


def paths_of(results: list[sanitize.SampleResult]) -> list[str]:
    return [r.path for r in results]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An ImageFolder of 12 clean JPEGs in two classes."""
    return image_folder(tmp_path / "data", per_class=6, size=(32, 48))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "audit.sqlite"


def test_first_audit_reports_like_scan_and_stores_every_sample(folder, db, tmp_path):
    (folder / "dog" / "bad.jpg").write_bytes(NOT_AN_IMAGE)
    result = run_audit(folder, db, out=tmp_path / "audit")
    sanitize.scan(folder, scheduler="synchronous", out=tmp_path / "scan")
    for name in ("findings.jsonl", "clean.txt"):
        assert (tmp_path / "audit" / name).read_text() == (tmp_path / "scan" / name).read_text()
    audit_summary, scan_summary = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("audit", "scan"))
    for summary, out in ((audit_summary, "audit"), (scan_summary, "scan")):
        for key in VOLATILE:
            summary.pop(key)
        assert summary["dataset"].pop("exclude") == [os.path.realpath(tmp_path / out)]
    assert audit_summary == scan_summary
    assert (result.checked, result.reused) == (13, 0)
    stored = rows(db)
    assert len(stored) == 13 and "format" in stored["dog/bad.jpg"][0]
    assert all(base_error == (key == "dog/bad.jpg") for key, (_, base_error) in stored.items())
    diff = json.loads((tmp_path / "audit" / "diff.json").read_text())
    assert diff["previous_run"] is None and len(diff["added"]) == 13
    assert [r["path"] for r in diff["newly_failing"]] == ["dog/bad.jpg"]
    assert diff["newly_failing"][0]["findings"][0]["code"] == "not_an_image"
    assert result.exit_code("new") == 1 and result.exit_code("any") == 1
    [run] = sanitize.history(db)
    assert (run.status, run.listed, run.checked, run.with_errors, run.added) == ("complete", 13, 13, 1, 13)


def test_unchanged_reaudit_reuses_results_without_reading_files_and_hashes_catch_rewrites(folder, db, tmp_path):
    """Every file is garbled with its size and mtime_ns kept: a plain re-audit, which never reads
    a file, still calls them clean; --verify-hashes reads them and catches every one."""
    (folder / "dog" / "bad.jpg").write_bytes(NOT_AN_IMAGE)
    first = run_audit(folder, db, out=tmp_path / "first", verify_hashes=True)
    garble(sorted(folder.rglob("*.jpg")))
    second = run_audit(folder, db, out=tmp_path / "second")
    assert (second.checked, second.reused) == (0, 13)
    assert (tmp_path / "second" / "findings.jsonl").read_text() == (tmp_path / "first" / "findings.jsonl").read_text()
    assert second.diff.counts() == NO_CHANGES
    assert second.diff.previous_run == first.run_id and second.exit_code("new") == 0
    verified = run_audit(folder, db, verify_hashes=True)
    assert verified.checked == 13
    assert sorted(paths_of(verified.diff.newly_failing)) == sorted(s.path for s in first.report.clean_samples())
    assert verified.report.error_count == 13 and verified.exit_code("new") == 1


def test_unchanged_reaudit_makes_no_open_call_under_the_dataset_root(folder, db):
    """A Python audit hook sees every open(): the first audit opens each file, the second none
    (and starts no Dask cluster)."""
    script = """
import os, sys
import sanitize
root, db = sys.argv[1], sys.argv[2]
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, os.PathLike)) and os.fspath(args[0]).startswith(root):
        opened.append(os.fspath(args[0]))
sys.addaudithook(hook)
sanitize.audit(root, db, scheduler="synchronous")
first = len(set(opened))
opened.clear()
report = sanitize.audit(root, db)  # the default local cluster, which nothing needs: never started
print(first, len(opened), report.reused, "distributed" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(db)], env=cli_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["12", "0", "12", "False"]


def test_modified_files_are_rechecked_and_reported_newly_failing_fixed_changed(folder, db):
    run_audit(folder, db)
    truncated = jpeg_bytes(seed=0, size=(32, 48))[:300]
    rewrite(folder / "cat" / "0.jpg", truncated)
    broken = run_audit(folder, db)
    assert broken.checked == 1
    assert paths_of(broken.diff.newly_failing) == ["cat/0.jpg"] and broken.exit_code("new") == 1
    assert rows(db)["cat/0.jpg"] == (json.dumps([f.to_dict() for f in broken.diff.newly_failing[0].findings]), 1)
    rewrite(folder / "cat" / "0.jpg", jpeg_bytes(seed=107, size=(32, 48)))  # unlike every other file
    rewrite(folder / "cat" / "1.jpg", jpeg_bytes(seed=108, size=(32, 48)))
    fixed = run_audit(folder, db)
    assert fixed.checked == 2 and fixed.report.valid
    assert (fixed.diff.fixed, fixed.diff.changed, fixed.diff.newly_failing) == (["cat/0.jpg"], ["cat/1.jpg"], [])
    assert rows(db)["cat/0.jpg"] == (None, 0)
    assert run_audit(folder, db).diff.counts() == NO_CHANGES  # the baseline moved


def test_quarantine_acts_on_a_reused_audit_report(folder, db, tmp_path):
    """A reused result carries the file's size and mtime_ns, so quarantine can verify and move it."""
    (folder / "dog" / "bad.jpg").write_bytes(NOT_AN_IMAGE)
    run_audit(folder, db)
    assert run_audit(folder, db, out=tmp_path / "report").reused == 13
    moved = sanitize.quarantine(tmp_path / "report", tmp_path / "qdir")
    assert moved.exit_code == 0, moved.render()
    assert not (folder / "dog" / "bad.jpg").exists() and any((tmp_path / "qdir").rglob("bad.jpg"))
    after = run_audit(folder, db)
    assert after.diff.removed == ["dog/bad.jpg"] and after.report.valid


def test_deleted_files_are_removed_from_the_store_and_reported_once(folder, db):
    (folder / "dog" / "bad.jpg").write_bytes(NOT_AN_IMAGE)
    run_audit(folder, db)
    (folder / "dog" / "bad.jpg").unlink()
    (folder / "cat" / "3.jpg").unlink()
    after = run_audit(folder, db)
    assert sorted(after.diff.removed) == ["cat/3.jpg", "dog/bad.jpg"]
    assert (after.checked, after.reused, after.exit_code("any")) == (0, 11, 0)
    assert set(rows(db)) == {s.path for s in after.report.samples}
    assert run_audit(folder, db).diff.removed == []


def test_new_broken_file_fails_the_cli_audit_and_history_lists_every_run(folder, db, tmp_path):
    cluster = ("--scheduler", "local", "--workers", "1", "--out", "rep")
    first = run_cli("audit", str(folder), "--db", str(db), *cluster, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads((tmp_path / "rep" / "summary.json").read_text())["runner"]["checked_by"] == "local cluster"
    (folder / "dog" / "bad.jpg").write_bytes(NOT_AN_IMAGE)
    second = run_cli("audit", "run", str(folder), "--db", str(db), "--fail-on", "new", "--out", "rep", cwd=tmp_path)
    assert second.returncode == 1, second.stderr
    forked = "forked" if sys.platform == "linux" else "local cluster"  # small runs are forked on Linux only
    assert json.loads((tmp_path / "rep" / "summary.json").read_text())["runner"]["checked_by"] == forked
    synchronous = ("--scheduler", "synchronous", "--out", "rep")
    assert "newly failing: dog/bad.jpg  format:not_an_image" in second.stdout
    diff = json.loads((tmp_path / "rep" / "diff.json").read_text())
    assert diff["added"] == ["dog/bad.jpg"] and diff["newly_failing"][0]["path"] == "dog/bad.jpg"
    assert "dog/bad.jpg" not in (tmp_path / "rep" / "clean.txt").read_text()
    assert rows(db)["dog/bad.jpg"][1] == 1
    assert run_cli("audit", str(folder), "--db", str(db), *synchronous, cwd=tmp_path).returncode == 0
    any_error = run_cli("audit", str(folder), "--db", str(db), "--fail-on", "any", *synchronous, cwd=tmp_path)
    assert any_error.returncode == 1
    history = run_cli("audit", "history", "--db", str(db), cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["#1", "#2", "#3", "#4"]
    assert "13 samples (1 checked, 12 reused)" in lines[1] and "1 newly failing" in lines[1]
    assert all("complete" in line for line in lines)


@pytest.fixture
def listfile(tmp_path: Path) -> Path:
    """A list file of 9 PNGs labelled 0, 1, 2 in turn."""
    images = tmp_path / "images"
    images.mkdir()
    lines = []
    for i in range(9):
        (images / f"{i}.png").write_bytes(png_bytes(photo(16, 16, seed=i)))
        lines.append(f"images/{i}.png {i % 3}\n")
    (tmp_path / "train.txt").write_text("".join(lines))
    return tmp_path / "train.txt"


def test_num_classes_change_without_probe_reevaluates_labels_without_opening_files(listfile, db):
    run_audit(listfile, db, num_classes=3, probe=False)
    garble(sorted(listfile.parent.glob("images/*.png")))
    fewer = run_audit(listfile, db, num_classes=2, probe=False)
    assert fewer.checked == 0
    assert paths_of(fewer.diff.newly_failing) == ["images/2.png", "images/5.png", "images/8.png"]
    assert {f"{f.check}:{f.code}" for r in fewer.report.flagged for f in r.findings} == {"label:out_of_range"}
    probed = run_audit(listfile, db, num_classes=2)  # the probe needs pixels: every file is read again
    assert probed.checked == 9 and probed.report.error_count == 9


def report_files(out: Path) -> dict[str, object]:
    """What an audit wrote to `out`, its summary without the entries that differ between any two runs."""
    summary = json.loads((out / "summary.json").read_text())
    for key in VOLATILE:
        summary.pop(key)
    summary["dataset"].pop("exclude")
    return {name: (out / name).read_text() for name in ("findings.jsonl", "clean.txt")} | {"summary": summary}


def test_a_reaudit_that_reuses_everything_writes_the_report_the_checking_audit_wrote(tmp_path, db, monkeypatch):
    """Reused clean results are folded in as columns (Collector.add_columns), the rest as results,
    both in chunks (of 3 here, to cross chunk boundaries): class counts, ignored labels, formats,
    decoders, probe losses and the dataset-wide scale statistic must come out exactly as when
    every file was checked, with the probe on or off, and with the probe off on results stored
    with it."""
    monkeypatch.setattr(sys.modules["sanitize.audit.reuse"], "REUSE_CHUNK", 3)
    lines = []
    for i in range(24):
        name, data = (f"{i}.png", png_bytes(photo(16, 16, seed=i))) if i % 2 else (f"{i}.jpg", jpeg_bytes(seed=i))
        (tmp_path / name).write_bytes(data)
        lines.append(f"{name} {255 if i % 5 == 0 else i % 3}\n")
    (tmp_path / "deep.png").write_bytes(png_bytes(np.full((16, 16), 9000, np.uint16)))  # a scale outlier
    (tmp_path / "page.jpg").write_bytes(NOT_AN_IMAGE)
    (tmp_path / "train.txt").write_text("".join(lines) + "deep.png 1\npage.jpg 2\nmissing.jpg 0\n0.jpg 7\n")
    options = {"num_classes": 3, "ignore_label": 255, "probe_scale": (1 / 255,)}
    reports = {}
    for probe in (True, False):
        checked = run_audit(tmp_path / "train.txt", db, out=tmp_path / f"checked{probe}", probe=probe, **options)
        reused = reports[probe] = run_audit(
            tmp_path / "train.txt", db, out=tmp_path / f"reused{probe}", probe=probe, **options
        )
        assert (checked.checked, reused.checked, reused.reused) == (28, 0, 28)
        assert report_files(tmp_path / f"reused{probe}") == report_files(tmp_path / f"checked{probe}")
        db.unlink()  # the next round checks every file again, without the probe
    run_audit(tmp_path / "train.txt", db, probe=True, **options)
    probe_off = run_audit(tmp_path / "train.txt", db, out=tmp_path / "probe_off", probe=False, **options)
    assert probe_off.checked == 0  # the stored probe results are ignored, the file results reused
    assert report_files(tmp_path / "probe_off") == report_files(tmp_path / "checkedFalse")
    summary = reports[True].report.summary
    assert summary.classes.ignored == 5 and summary.formats["JPEG"] == 13
    assert summary.probe.loss.count == 20 and reports[False].report.summary.probe.loss.count == 0
    codes = {f"{r.path} {f.check}:{f.code}" for r in reports[True].report.flagged for f in r.findings}
    assert codes == {
        "deep.png probe:scale_outlier",
        "deep.png mode:minority",  # 16-bit grey among RGB
        "page.jpg format:not_an_image",
        "missing.jpg paths:missing",
        "0.jpg label:out_of_range",
        "0.jpg duplicate:exact",  # listed twice: the ignore label and an invalid one do not conflict
    }


def test_probe_and_file_options_invalidate_what_depends_on_them(listfile, db):
    assert run_audit(listfile, db, num_classes=3).checked == 9
    assert run_audit(listfile, db, num_classes=4).checked == 9  # probe results depend on num_classes
    assert run_audit(listfile, db, num_classes=4, probe=False).checked == 0  # file results still hold
    kept = run_audit(listfile, db, num_classes=4)  # the probe results stored under num_classes=4 still hold
    assert kept.checked == 0 and kept.report.summary.probe.loss.count == 9
    assert run_audit(listfile, db, num_classes=4, probe_mean=(0.5,)).checked == 9
    assert run_audit(listfile, db, num_classes=4, probe_mean=(0.5,), allow_mismatch=True).checked == 9
    listfile.write_text(listfile.read_text().replace("images/4.png 1", "images/4.png 2"))
    relabelled = run_audit(listfile, db, num_classes=4, probe_mean=(0.5,), allow_mismatch=True)
    assert relabelled.checked == 1  # the probe's loss depends on the label of that one sample
    listfile.write_text(listfile.read_text().replace("images/7.png 1", "images/7.png 9"))
    without_probe = run_audit(listfile, db, num_classes=4, probe_mean=(0.5,), allow_mismatch=True, probe=False)
    assert without_probe.checked == 0  # a relabel without the probe opens no file
    assert [(r.path, r.findings[0].code) for r in without_probe.diff.newly_failing] == [
        ("images/7.png", "out_of_range")
    ]


def test_segmentation_pairs_reuse_mask_results_and_a_changed_mask_is_rechecked(tmp_path, db):
    lines = [write_pair(tmp_path, f"s{i}", square_mask(value=1 + i % 2)) for i in range(8)]
    (tmp_path / "train.txt").write_text("".join(lines))
    first = run_audit(tmp_path / "train.txt", db, num_classes=3, out=tmp_path / "first")
    sanitize.scan(tmp_path / "train.txt", num_classes=3, scheduler="synchronous", out=tmp_path / "scan")
    assert (tmp_path / "first" / "clean.txt").read_text() == (tmp_path / "scan" / "clean.txt").read_text()
    again = run_audit(tmp_path / "train.txt", db, num_classes=3, out=tmp_path / "again")
    assert (again.checked, again.reused) == (0, 8)
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("scan", "first", "again")]
    assert summaries[0]["masks"] == summaries[1]["masks"] == summaries[2]["masks"]  # mask values restored
    assert summaries[0]["classes"] == summaries[2]["classes"] and first.report.valid
    mask = tmp_path / "masks" / "s3.png"
    before = mask.stat().st_mtime_ns
    save(mask, square_mask(value=7))
    os.utime(mask, ns=(before + 10**9, before + 10**9))
    broken = run_audit(tmp_path / "train.txt", db, num_classes=3)
    assert broken.checked == 1
    assert [(r.path, r.findings[0].check) for r in broken.diff.newly_failing] == [("images/s3.jpg", "mask")]
    assert run_audit(tmp_path / "train.txt", db, num_classes=8, probe=False).checked == 8  # the masks' pixels


def test_every_config_option_belongs_to_a_fingerprint():
    assert {f.name for f in dataclasses.fields(ScanConfig)} == {*FILE_FIELDS, *MASK_FIELDS, *PROBE_FIELDS}


def test_csv_input_and_repeated_paths_are_reused(tmp_path, db):
    (tmp_path / "a.png").write_bytes(png_bytes(photo(16, 16)))
    (tmp_path / "b.png").write_bytes(png_bytes(photo(16, 16, seed=1)))
    table = tmp_path / "train.csv"
    table.write_text("path,label\na.png,0\nb.png,1\na.png,1\n")
    first = run_audit(table, db, num_classes=2)
    assert (first.checked, len(rows(db))) == (3, 3)
    again = run_audit(table, db, num_classes=2)
    assert (again.checked, again.reused, again.diff.counts()["added"]) == (0, 3, 0)


def test_store_of_another_dataset_is_refused(folder, listfile, db):
    run_audit(folder, db)
    with pytest.raises(sanitize.SanitizeError, match="holds the audits of"):
        run_audit(listfile, db, num_classes=3)


def test_history_of_a_missing_store_is_a_clean_error(tmp_path):
    result = run_cli("audit", "history", "--db", "nowhere.sqlite", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip() == "error: no audit store at nowhere.sqlite"


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """6,000 small PNGs, all different: a synchronous audit of them takes a few seconds."""
    root = tmp_path_factory.mktemp("big") / "data"
    for offset, cls in enumerate(("a", "b")):
        (root / cls).mkdir(parents=True)
        for i in range(3000):
            (root / cls / f"{i:04d}.png").write_bytes(png_bytes(photo(24, 24, seed=offset * 3000 + i)))
    return root


def start_audit(dataset: Path, db: Path, cwd: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "sanitize", "audit", str(dataset), "--db", str(db), "--scheduler", "synchronous"]
    return subprocess.Popen(
        command, cwd=cwd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )


def wait_for(db: Path, query: str, deadline: float = 60) -> int:
    """Poll the store (as a separate reader) until `query` returns a positive count."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    count = conn.execute(query).fetchone()[0]
                if count:
                    return count
            except sqlite3.OperationalError:
                pass  # the schema is not there yet
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {query}")


def test_audit_killed_mid_run_leaves_a_consistent_store_and_the_next_one_continues(big, tmp_path):
    db = tmp_path / "audit.sqlite"
    audit = start_audit(big, db, tmp_path)
    wait_for(db, "SELECT count(*) FROM samples")
    os.killpg(audit.pid, signal.SIGKILL)
    assert audit.wait(timeout=30) == -signal.SIGKILL
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        committed = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
        assert conn.execute("SELECT status FROM runs").fetchall() == [("running",)]
    assert 0 < committed < 6000
    resumed = run_audit(big, db)
    assert (resumed.reused, resumed.checked) == (committed, 6000 - committed)
    assert resumed.report.summary.samples.scanned == 6000 and resumed.report.valid
    assert len(resumed.diff.added) == 6000 and resumed.diff.previous_run is None
    assert [(r.status, r.checked) for r in sanitize.history(db)] == [
        ("interrupted", None),
        ("complete", 6000 - committed),
    ]


def test_a_second_audit_on_the_same_store_fails_clearly_and_leaves_the_first_alone(big, tmp_path):
    db = tmp_path / "audit.sqlite"
    first = start_audit(big, db, tmp_path)
    try:
        wait_for(db, "SELECT count(*) FROM runs WHERE status = 'running'")
        assert [r.status for r in sanitize.history(db)] == ["running"]  # read-only, beside the running audit
        with pytest.raises(sanitize.SanitizeError) as refused:
            run_audit(big, db)
        assert str(refused.value) == f"another audit (pid {first.pid}) is using {db}; run again when it has finished"
        assert first.wait(timeout=120) == 0
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert [(r.status, r.checked) for r in sanitize.history(db)] == [("complete", 6000)]


def test_cli_audit_on_a_locked_store_exits_2_with_one_line(folder, db, tmp_path):
    """The test process holds the store's lock file the way a running audit does."""
    with open(db.with_name(db.name + ".lock"), "w") as lock:
        lock.write("4242")
        lock.flush()
        fcntl.flock(lock, fcntl.LOCK_EX)
        locked = run_cli("audit", str(folder), "--db", str(db), "--scheduler", "synchronous", cwd=tmp_path)
    assert locked.returncode == 2
    assert locked.stderr == f"error: another audit (pid 4242) is using {db}; run again when it has finished\n"
    assert not db.exists() or sanitize.history(db) == []
    assert run_cli("audit", str(folder), "--db", str(db), "--scheduler", "synchronous", cwd=tmp_path).returncode == 0


def _store_as_the_pipeline_would(db: Path, folder: Path, path: str, result_of) -> None:
    """Store `result_of(sample)` for the sample at `path`, as the audit stores each result the pipeline
    hands it (audit.reuse.stored_row into audit.store.UPSERT, under the fingerprints the last audit
    recorded)."""
    sample = next(s for s in sanitize.open_dataset(folder).samples if s.path == path)
    with sqlite3.connect(db) as conn:
        (settings,) = conn.execute("SELECT config FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        fingerprints = Fingerprints(**json.loads(settings)["fingerprints"])
        conn.execute(UPSERT, stored_row(result_of(sample), path, identity_of(sample, None), fingerprints))


def _check_failed(sample: sanitize.Sample) -> sanitize.SampleResult:
    """A real internal:check_failed: check_batch catching a check that raised (here on a missing file object)."""
    (result,) = batch.check_batch([sample._replace(file=None)], Path("/"), ScanConfig(num_classes=2)).flagged
    return result


@pytest.mark.parametrize(
    "result_of, code",
    [
        (lambda sample: batch.crashed_result(sample, "KilledWorker").flagged[0], "decode:crashed"),
        (_check_failed, "internal:check_failed"),
    ],
)
def test_a_crashed_or_failed_check_is_never_reused(folder, db, result_of, code):
    """A worker crash or a check that raised says nothing about the file: the next audit checks it again."""
    run_audit(folder, db)
    _store_as_the_pipeline_would(db, folder, "cat/2.jpg", result_of)
    stored = json.loads(rows(db)["cat/2.jpg"][0])
    assert [f"{f['check']}:{f['code']}" for f in stored] == [code]

    again = run_audit(folder, db)

    assert (again.checked, again.reused) == (1, 11)
    assert again.report.valid and rows(db)["cat/2.jpg"][0] is None
    assert run_audit(folder, db).checked == 0  # the sound result is reused like any other


def test_a_db_or_out_that_cannot_be_written_is_a_one_line_error_before_any_work(folder, db, tmp_path):
    run_audit(folder, db)
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("keep me\n")
    for args in (("--db", "/proc/x/a.sqlite"), ("--db", str(db), "--out", str(not_a_folder))):
        failed = run_cli("audit", str(folder), *args, "--scheduler", "synchronous", cwd=tmp_path)
        assert failed.returncode == 2, failed.stderr
        assert failed.stderr.startswith("error: cannot create") and len(failed.stderr.splitlines()) == 1
    assert not_a_folder.read_text() == "keep me\n"
    assert [run.status for run in sanitize.history(db)] == ["complete"]  # no run left 'running'
