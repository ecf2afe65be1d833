"""Datasets in object storage, against a real S3 API server on 127.0.0.1 (moto's server mode,
started here and stopped after): an s3:// scan finds exactly what the scan of the same files on
disk finds, refuses entries that leave the prefix, and never prints or writes a credential."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import sanitize
from tests.conftest import REPO, cli_env, float_tiff_bytes, jpeg_bytes, photo, png_bytes, run_cli

BUCKET = "training"
#: Where the S3 server records the requests it gets while recording.
RECORDING: dict[str, Path] = {}
SECRET = "not-a-real-secret-7f3a"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_s3_server(folder: Path, log: Path) -> tuple[subprocess.Popen, str] | None:
    """A moto S3 server on a free port and its endpoint, once it answers; None if it exited first
    (the port, free when it was picked, was taken before the server bound it)."""
    port = _free_port()
    with open(log, "w") as output:  # the recorder (started and stopped by a test) logs requests to a file
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=output,
            env={**os.environ, "MOTO_RECORDER_FILEPATH": str(folder / "requests.jsonl")},
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            return server, endpoint
        except OSError:
            if server.poll() is not None:
                return None
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"the S3 server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> str:
    """The endpoint of a moto S3 server on a free local port, with credentials in the environment."""
    folder = tmp_path_factory.mktemp("moto")
    log = folder / "server.log"
    RECORDING["file"] = folder / "requests.jsonl"
    for _ in range(3):
        if started := _start_s3_server(folder, log):
            break
    else:
        raise RuntimeError(f"the S3 server did not start: {log.read_text()[-2000:]}")
    server, endpoint = started
    yield endpoint
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    """What the AWS chain reads (moto takes any); the secret under test is passed as an option."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _fs(endpoint: str):
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")


def _broken_tree(root: Path) -> None:
    """An ImageFolder and a list over it, with one sample of each problem that applies to files."""
    for k, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for i in range(6):
            (root / cls / f"{i}.jpg").write_bytes(jpeg_bytes(seed=6 * k + i))
    data = jpeg_bytes(seed=19)
    (root / "cat" / "cut.jpg").write_bytes(data[: len(data) // 2])
    (root / "cat" / "page.jpg").write_bytes(b"<!doctype html><html>captive portal</html>")
    (root / "dog" / "nan.tif").write_bytes(float_tiff_bytes(np.full((8, 8), np.nan)))
    (root / "dog" / "named.jpg").write_bytes(png_bytes())
    (root / "dog" / "empty.png").write_bytes(b"")
    (root / "dog" / "deep.png").write_bytes(png_bytes(np.full((16, 16), 65535, np.uint16)))
    lines = [
        f"{cls}/{path.name} {k}" for k, cls in enumerate(("cat", "dog")) for path in sorted((root / cls).iterdir())
    ]
    lines += ["cat/missing.jpg 0", "../outside.jpg 1", "/etc/hostname 0", "cat/0.jpg 7"]
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    (root / "train.csv").write_text("path,label\n" + "\n".join(line.replace(" ", ",") for line in lines) + "\n")


@pytest.fixture(scope="module")
def uploaded(s3, tmp_path_factory) -> tuple[Path, str]:
    """(the local tree, its s3:// URL): the same files on disk and in the bucket."""
    root = tmp_path_factory.mktemp("local") / "data"
    _broken_tree(root)
    fs = _fs(s3)
    fs.mkdir(BUCKET)
    fs.put(str(root), f"{BUCKET}/data", recursive=True)
    fs.pipe(f"{BUCKET}/outside.jpg", jpeg_bytes())
    return root, f"s3://{BUCKET}/data"


def _verdicts(report: sanitize.Report) -> tuple[dict[str, list[str]], list[str]]:
    flagged = {r.path: sorted(f.name for f in r.findings) for r in report.flagged}
    return flagged, list(report.clean_lines())


@pytest.mark.parametrize(
    ("listing", "options"), [("train.txt", {"num_classes": 2}), ("train.csv", {"num_classes": 2}), ("", {})]
)
@pytest.mark.parametrize("scheduler", ["synchronous", None])
def test_an_s3_scan_finds_what_the_scan_on_disk_finds(s3, uploaded, listing, options, scheduler):
    root, url = uploaded
    local = sanitize.scan(
        root / listing if listing else root, scheduler="synchronous", probe_scale=(1 / 255,), **options
    )
    remote = sanitize.scan(
        f"{url}/{listing}" if listing else url,
        scheduler=scheduler,
        probe_scale=(1 / 255,),
        storage_options=(("endpoint_url", s3),),
        **options,
    )
    assert _verdicts(remote) == _verdicts(local)
    flagged = _verdicts(remote)[0]
    assert flagged["cat/cut.jpg"] == ["decode:corrupt_data"]
    assert flagged["dog/deep.png"] == ["mode:minority", "probe:scale_outlier"]  # 16-bit grey among RGB
    if listing:
        assert flagged["../outside.jpg"] == ["paths:outside_root"]  # another key of the bucket: never read
        assert flagged["/etc/hostname"] == ["paths:outside_root"]  # a local file named in a bucket's list
        assert flagged["cat/missing.jpg"] == ["paths:missing"]
    assert remote.summary.dataset.real_root == url


def test_the_command_line_scans_a_bucket_and_never_shows_a_credential(s3, uploaded, tmp_path):
    _, url = uploaded
    out = tmp_path / "report"
    done = run_cli(
        "scan",
        f"{url}/train.txt",
        "--num-classes",
        "2",
        "--out",
        out,
        "--storage-option",
        f"endpoint_url={s3}",
        "--storage-option",
        f"secret={SECRET}",
        "--storage-option",
        "key=testing",
    )
    assert done.returncode == 1, done.stderr
    assert "decode:corrupt_data" in done.stdout
    written = "".join(path.read_text() for path in out.iterdir())
    assert SECRET not in done.stdout + done.stderr + written
    assert json.loads((out / "summary.json").read_text())["dataset"]["source"] == f"{url}/train.txt"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["scan", "gs://bucket/train.txt", "--num-classes", "2"], "pip install 'sanitize[gcs]'"),
        (
            ["scan", "s3://training/data/none.txt", "--num-classes", "2"],
            "dataset not found: s3://training/data/none.txt",
        ),
        (["scan", "s3://training/data/train.txt", "--storage-option", "novalue"], "KEY=VALUE"),
    ],
)
def test_what_object_storage_cannot_do_yet_is_one_line_and_exit_2(s3, uploaded, tmp_path, args, says):
    args = [*args, "--storage-option", f"endpoint_url={s3}"] if args[1].startswith("s3") else args
    done = subprocess.run(
        [sys.executable, "-m", "sanitize", *args], cwd=tmp_path, env=cli_env(), capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr


def test_quarantine_refuses_a_report_on_a_bucket(s3, uploaded, tmp_path):
    _, url = uploaded
    sanitize.scan(
        f"{url}/train.txt",
        num_classes=2,
        out=tmp_path / "report",
        scheduler="synchronous",
        storage_options=(("endpoint_url", s3),),
    )
    with pytest.raises(sanitize.SanitizeError, match=r"object storage .* not supported yet"):
        sanitize.quarantine(tmp_path / "report", tmp_path / "q")
    assert not (tmp_path / "q").exists()
    shutil.rmtree(tmp_path / "report")


@pytest.fixture
def standalone_cluster():
    """A Dask cluster started as processes, as a user's own would be: `dask scheduler` and `dask
    worker --nworkers 2` on 127.0.0.1; yields (its address, the `dask worker` process)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": cli_env()}
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    workers = subprocess.Popen(
        [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard", "--memory-limit", "0"],
        **quiet,
    )
    from distributed import Client

    try:
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for process in (workers, scheduler):
            process.terminate()
        for process in (workers, scheduler):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_a_standalone_cluster_scans_a_bucket_and_survives_a_worker_killed_mid_scan(
    s3, uploaded, tmp_path, standalone_cluster
):
    """`--scheduler tcp://...` on workers that share nothing with the caller but the bucket; one
    worker process killed -9 mid-scan: every sample is still checked exactly once, and the exit
    code and findings are those of the scan on disk."""
    root, url = uploaded
    address, _ = standalone_cluster
    lines = (root / "train.txt").read_text().splitlines()
    big = [lines[i % len(lines)] for i in range(1500)]
    _fs(s3).pipe(f"{BUCKET}/data/big.txt", ("\n".join(big) + "\n").encode())
    (root / "big.txt").write_text("\n".join(big) + "\n")
    out = tmp_path / "report"
    scan = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sanitize",
            "scan",
            f"{url}/big.txt",
            "--num-classes",
            "2",
            "--out",
            str(out),
            "--scheduler",
            address,
            "--storage-option",
            f"endpoint_url={s3}",
        ],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    from distributed import Client

    with Client(address, timeout="30s") as client:
        pids = list(client.run(os.getpid).values())  # each worker process's own pid
    assert len(pids) == 2
    time.sleep(3)
    assert scan.poll() is None, "the scan ended before a worker could be killed: make the dataset bigger"
    os.kill(pids[0], signal.SIGKILL)
    _, stderr = scan.communicate(timeout=300)
    local = sanitize.scan(root / "big.txt", num_classes=2, scheduler="synchronous")
    assert scan.returncode == local.exit_code() == 1, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"]["listed"] == summary["samples"]["scanned"] == 1500
    remote = [json.loads(line) for line in (out / "findings.jsonl").read_text().splitlines()]
    assert [(r["path"], sorted(f["code"] for f in r["findings"])) for r in remote] == [
        (r.path, sorted(f.code for f in r.findings)) for r in local.flagged
    ]


def _object_gets(endpoint: str, run) -> int:
    """How many GETs of image objects the S3 server answered while `run()` ran."""
    RECORDING["file"].write_text("")
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/recorder/start-recording", method="POST"))
    try:
        run()
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/recorder/stop-recording", method="POST"))
    requests = [json.loads(line) for line in RECORDING["file"].read_text().splitlines()]
    return sum(r["method"] == "GET" and r["url"].split("?")[0].endswith((".jpg", ".png", ".tif")) for r in requests)


def test_an_audit_of_a_bucket_reuses_every_result_without_fetching_an_object(s3, uploaded, tmp_path):
    """Objects are known by size, last-modified and ETag from a HEAD: an unchanged re-audit GETs
    nothing, and one rewritten object (same size, new ETag) is the only one fetched again."""
    _, url = uploaded
    options = {"num_classes": 2, "scheduler": "synchronous", "storage_options": (("endpoint_url", s3),)}
    db = tmp_path / "audit.sqlite"
    runs = []

    def audit() -> None:
        runs.append(sanitize.audit(f"{url}/train.txt", db, **options))

    assert _object_gets(s3, audit) > 10 and runs[-1].checked == runs[-1].report.summary.samples.listed
    assert _object_gets(s3, audit) == 0 and runs[-1].checked == 0
    first = runs[0].report
    assert [(r.path, sorted(f.name for f in r.findings)) for r in runs[-1].report.flagged] == [
        (r.path, sorted(f.name for f in r.findings)) for r in first.flagged
    ]
    fs = _fs(s3)
    data = fs.cat_file(f"{BUCKET}/data/cat/1.jpg")
    fs.pipe(f"{BUCKET}/data/cat/1.jpg", data[:-2] + b"\x00\x00")  # same size, new content
    try:
        assert _object_gets(s3, audit) == 1 and runs[-1].checked == 1
    finally:
        fs.pipe(f"{BUCKET}/data/cat/1.jpg", data)


class _Flaky(http.server.BaseHTTPRequestHandler):
    """A proxy to the S3 server that answers 503 SlowDown, as a throttling store does: to the first
    `failures` requests, and to every request for a key containing `always`."""

    upstream = ""
    failures = 0
    always = "\0"

    def _forward(self) -> None:
        cls = type(self)
        if cls.failures > 0 or cls.always in self.path:
            cls.failures -= 1
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        length = int(self.headers.get("Content-Length") or 0)
        request = urllib.request.Request(
            cls.upstream + self.path,
            data=self.rfile.read(length) if length else None,
            method=self.command,
            headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
        )
        try:
            with urllib.request.urlopen(request) as answer:
                status, headers, body = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as answer:
            status, headers, body = answer.code, answer.headers, answer.read()
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(key, value)
        # a HEAD answer carries the object's length, not that of its (empty) body
        self.send_header(
            "Content-Length", headers.get("Content-Length", "0") if self.command == "HEAD" else str(len(body))
        )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def flaky(s3):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    _Flaky.upstream = s3
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    _Flaky.failures, _Flaky.always = 0, "\0"


def test_a_validation_set_in_object_storage_is_hashed_through_the_store(s3, uploaded):
    """--against an s3:// list: the training files on disk are the bucket's, so each one read is leaked."""
    root, url = uploaded
    report = sanitize.scan(
        root / "train.txt",
        num_classes=2,
        scheduler="synchronous",
        against=[f"{url}/train.txt"],
        storage_options=(("endpoint_url", s3),),
    )
    leaked = {r.path for r in report.flagged for f in r.findings if f.name == "leakage:exact"}
    assert {"cat/0.jpg", "dog/5.jpg", "cat/cut.jpg", "dog/deep.png"} <= leaked
    assert "cat/missing.jpg" not in leaked and "../outside.jpg" not in leaked
    assert report.summary.leakage["against"] == [f"{url}/train.txt"]


def test_a_throttling_store_is_retried_and_an_object_that_keeps_failing_is_a_finding(uploaded, flaky):
    """503 SlowDown answers are retried (the storage library's backoff) until the scan gets its
    answers; an object the store never serves is an error finding on that sample, and the scan
    goes on with every other."""
    root, url = uploaded
    local = sanitize.scan(root / "train.txt", num_classes=2, scheduler="synchronous")
    _Flaky.failures = 3
    throttled = sanitize.scan(
        f"{url}/train.txt", num_classes=2, scheduler="synchronous", storage_options=(("endpoint_url", flaky),)
    )
    assert _Flaky.failures <= 0 and _verdicts(throttled) == _verdicts(local)
    _Flaky.always = "cat/3.jpg"
    failing = sanitize.scan(
        f"{url}/train.txt", num_classes=2, scheduler="synchronous", storage_options=(("endpoint_url", flaky),)
    )
    flagged = _verdicts(failing)[0]
    assert flagged.pop("cat/3.jpg") == ["paths:unreadable"]
    assert flagged == _verdicts(local)[0] and failing.summary.samples.scanned == local.summary.samples.scanned


def test_reports_go_to_a_bucket_whole_with_the_summary_written_last(s3, uploaded, tmp_path):
    """--out s3://...: the same report files as a local --out, each object complete; an audit adds
    diff.json. The summary is written last (a reader that sees it sees the others)."""
    _, url = uploaded
    options = {"num_classes": 2, "scheduler": "synchronous", "storage_options": (("endpoint_url", s3),)}
    sanitize.scan(f"{url}/train.txt", out=tmp_path / "local", **options)
    sanitize.scan(f"{url}/train.txt", out=f"s3://{BUCKET}/reports/scan", **options)
    sanitize.audit(f"{url}/train.txt", tmp_path / "a.sqlite", out=f"s3://{BUCKET}/reports/audit", **options)
    fs = _fs(s3)
    assert sorted(fs.ls(f"{BUCKET}/reports/scan")) == [
        f"{BUCKET}/reports/scan/{name}" for name in ("clean.txt", "findings.jsonl", "report.html", "summary.json")
    ]
    page = fs.cat_file(f"{BUCKET}/reports/scan/report.html").decode()
    assert "data:image/" not in page and "in object storage: not fetched" in page  # the bucket is not read again
    for name in ("clean.txt", "findings.jsonl"):
        assert fs.cat_file(f"{BUCKET}/reports/scan/{name}").decode() == (tmp_path / "local" / name).read_text()
    remote = json.loads(fs.cat_file(f"{BUCKET}/reports/scan/summary.json"))
    assert remote["samples"] == json.loads((tmp_path / "local" / "summary.json").read_text())["samples"]
    assert json.loads(fs.cat_file(f"{BUCKET}/reports/audit/diff.json"))["counts"]["added"] == 22
    modified = {
        name: fs.info(f"{BUCKET}/reports/audit/{name}")["LastModified"]
        for name in ("diff.json", "report.html", "summary.json")
    }
    assert modified["summary.json"] >= max(modified["diff.json"], modified["report.html"])


def test_a_report_of_a_dataset_on_disk_keeps_its_thumbnails_in_a_bucket(s3, uploaded):
    root, _ = uploaded
    out = f"s3://{BUCKET}/reports/from-disk"
    sanitize.scan(root / "train.txt", out=out, num_classes=2, storage_options=(("endpoint_url", s3),))
    assert "data:image/jpeg;base64," in _fs(s3).cat_file(f"{out}/report.html").decode()


@pytest.mark.parametrize("scheduler", ["synchronous", None])
def test_a_segmentation_list_in_a_bucket_finds_what_it_finds_on_disk(s3, tmp_path, scheduler):
    """The bundled segmentation sample (one broken mask of each kind, a mask path that escapes)
    scanned from a bucket: the same findings and clean.txt as on disk."""
    local = REPO / "sample_data" / "segmentation"
    fs = _fs(s3)
    fs.put(str(local), f"{BUCKET}/seg", recursive=True)
    on_disk = sanitize.scan(local / "train.txt", num_classes=3, scheduler="synchronous")
    remote = sanitize.scan(
        f"s3://{BUCKET}/seg/train.txt", num_classes=3, scheduler=scheduler, storage_options=(("endpoint_url", s3),)
    )
    assert _verdicts(remote) == _verdicts(on_disk) and remote.summary.dataset.task == "segmentation"
    flagged = _verdicts(remote)[0]
    assert "paths:mask_outside_root" in flagged["images/escape.jpg"]


def test_image_and_mask_prefixes_in_a_bucket_pair_as_folders_do_on_disk(s3, tmp_path):
    """--images s3://.../images --masks s3://.../masks: paired by name as two folders are."""
    local = REPO / "sample_data" / "segmentation"
    fs = _fs(s3)
    fs.put(str(local), f"{BUCKET}/pairs", recursive=True)
    on_disk = sanitize.scan(images=local / "images", masks=local / "masks", num_classes=3, scheduler="synchronous")
    remote = sanitize.scan(
        images=f"s3://{BUCKET}/pairs/images",
        masks=f"s3://{BUCKET}/pairs/masks",
        num_classes=3,
        scheduler="synchronous",
        storage_options=(("endpoint_url", s3),),
    )
    assert len(on_disk.samples) > 5 and _verdicts(remote) == _verdicts(on_disk)
    done = run_cli(
        "scan",
        "--images",
        f"s3://{BUCKET}/pairs/images",
        "--masks",
        f"s3://{BUCKET}/pairs/masks",
        "--num-classes",
        "3",
        "--storage-option",
        f"endpoint_url={s3}",
        "--out",
        tmp_path / "report",
    )
    assert done.returncode == on_disk.exit_code(), done.stderr


@pytest.mark.parametrize("scheduler", ["synchronous", None])
def test_webdataset_shards_in_s3_scan_as_on_disk(s3, tmp_path, scheduler):
    from tests.container_helpers import write_shard

    jpeg, (b, c, e) = jpeg_bytes(), (png_bytes(photo(seed=seed)) for seed in (1, 2, 3))  # all different
    root = tmp_path / "shards"
    write_shard(root / "s-00.tar", [("a.jpg", jpeg), ("a.cls", b"1"), ("b.jpg", b), ("b.cls", b"0")])
    write_shard(root / "s-01.tar", [("c.png", c), ("c.cls", b"5"), ("d.txt", b"x"), ("d.cls", b"1")])
    cut = write_shard(root / "s-02.tar", [("e.png", e), ("e.cls", b"1")])
    cut.write_bytes(cut.read_bytes()[:2048])  # no end-of-archive block
    fs = _fs(s3)
    fs.put(str(root), f"{BUCKET}/wds-{scheduler}", recursive=True)
    local = sanitize.scan(str(root / "s-{00..02}.tar"), num_classes=2, scheduler="synchronous")
    remote = sanitize.scan(
        f"s3://{BUCKET}/wds-{scheduler}/s-{{00..02}}.tar",
        num_classes=2,
        scheduler=scheduler,
        storage_options=(("endpoint_url", s3),),
    )
    folder = sanitize.scan(  # a bare prefix of shards, as a local folder of them
        f"s3://{BUCKET}/wds-{scheduler}", num_classes=2, scheduler=scheduler, storage_options=(("endpoint_url", s3),)
    )
    assert _verdicts(remote) == _verdicts(local) == _verdicts(folder)
    assert folder.summary.dataset.kind == "webdataset"
    assert _verdicts(remote)[0] == {
        "s-00.tar/b": ["format:extension_mismatch"],
        "s-01.tar/c": ["label:out_of_range"],
        "s-01.tar/d": ["container:no_image"],
        "s-02.tar/e": ["container:corrupt_shard", "label:missing"],  # the shard ends inside its image
        "s-02.tar": ["container:corrupt_shard"],
    }
