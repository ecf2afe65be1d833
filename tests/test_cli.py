"""The command line through a real subprocess: exit codes, one-line errors, resulting files."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from sanitize.cli import app
from sanitize.config import CiOptions, RunOptions, ScanConfig, declared_options
from sanitize.datasets import DatasetInput
from tests.conftest import cli_env, image_folder, run_cli


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return image_folder(tmp_path / "data", per_class=3)


def test_clean_dataset_exits_0_and_writes_the_report(folder, tmp_path):
    result = run_cli("scan", str(folder), "--out", "rep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-2].startswith("PASS: 0 of 6 samples have errors")
    clean = (tmp_path / "rep" / "clean.txt").read_text().splitlines()
    assert clean == [f"cat/{i}.jpg 0" for i in range(3)] + [f"dog/{i}.jpg 1" for i in range(3)]


def test_broken_sample_exits_1_and_max_errors_tolerates_it(folder, tmp_path):
    (folder / "dog" / "bad.jpg").write_bytes(b"<!doctype html><html></html>")
    result = run_cli("scan", str(folder), "--out", "rep", "--scheduler", "synchronous", cwd=tmp_path)
    assert result.returncode == 1
    assert "format:not_an_image" in result.stdout and "dog/bad.jpg" in result.stdout
    record = json.loads((tmp_path / "rep" / "findings.jsonl").read_text())
    assert record["path"] == "dog/bad.jpg"
    assert "dog/bad.jpg 1" not in (tmp_path / "rep" / "clean.txt").read_text()
    tolerated = run_cli("scan", str(folder), "--max-errors", "1", "--scheduler", "synchronous", cwd=tmp_path)
    assert tolerated.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "nowhere"], "error: dataset not found: nowhere"),
        (["scan", "list.txt"], "error: --num-classes is required"),
        (["scan", "list.txt", "--num-classes", "0"], "error: --num-classes must be from 1 to"),
        (["scan", "list.txt", "--num-classes", "2", "--scale", "a,b"], "error: --scale takes numbers"),
        (["scan", "list.txt", "--num-classes", "2", "--formats", "JPEG,HEIF"], "error: unknown format(s) HEIF"),
        (["scan", "list.txt", "--num-classes", "2", "--scheduler", "tcp://127.0.0.1:9"], "error: cannot reach Dask"),
        (["scan", "--num-classes", "x", "list.txt"], "Invalid value"),
        (
            ["scan", "list.txt", "--num-classes", "2", "--scheduler", "bogus"],
            "error: cannot reach Dask scheduler 'bogus'",
        ),
        (["scan", "list.txt", "--num-classes", "2", "--max-errors", "-1"], "Invalid value"),
        (["scan", "list.txt", "--num-classes", "50000000"], "error: --num-classes must be from 1 to 1,000,000"),
        (["scan", "list.txt", "--num-classes", "2", "--scale", "nan"], "error: --scale values must be finite"),
        (["scan", "list.txt", "--num-classes", "2", "--scale", "0"], "error: --scale 0 would blank every input"),
        (["scan", "list.txt", "--num-classes", "2", "--formats", ","], "error: --formats names no format"),
        (["scan", "list.txt", "--num-classes", "2", "--max-file-bytes", "0"], "error: --max-file-bytes must be at"),
        (["scan", "list.txt", "--num-classes", "2", "--out", "list.txt"], "error: cannot create the report folder"),
        (["scan", "list.txt", "--num-classes", "2", "--out", "/proc/nope"], "error: cannot create the report folder"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, args, message):
    (tmp_path / "list.txt").write_text("a.jpg 0\n")
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def _on_a_terminal(command: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, str]:
    """Run `command` with stderr on a pseudo-terminal (stdout a pipe); what the terminal showed, without colours."""
    import pty

    controller, terminal = pty.openpty()
    env = {**cli_env(), "TERM": "xterm-256color"}
    with open(terminal, "wb", closefd=True) as stderr:
        result = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr, timeout=120)
    shown = b""
    while True:  # the child has exited: read what it left on the terminal until it is drained
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    return result, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode("utf-8", "replace"))


def test_progress_bar_goes_to_stderr_only_when_it_is_a_terminal(folder, tmp_path):
    command = [sys.executable, "-m", "sanitize", "scan", str(folder), "--out", "rep"]
    result, shown = _on_a_terminal(command, tmp_path)
    assert result.returncode == 0
    assert re.search(r"6/6 samples +[\d,]+ samples/s +ETA 0:00", shown), shown
    assert "PASS" not in shown  # the table stays on stdout
    # the bar starts no thread: the small run was still checked by forked workers
    assert json.loads((tmp_path / "rep" / "summary.json").read_text())["runner"]["checked_by"] == "forked"
    piped = run_cli("scan", str(folder), "--scheduler", "synchronous", cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == ""


def test_progress_redraws_at_most_every_interval_however_often_it_is_called():
    """The scan core calls it per batch; the terminal is written at most every REDRAW seconds (and at the end)."""
    import io

    from rich.console import Console

    from sanitize.cli import Progress

    screen = io.StringIO()
    calls = 20_000
    started = time.monotonic()
    with Progress(Console(file=screen, force_terminal=True, width=100)) as progress:
        for done in range(1, calls + 1):
            progress(done, calls)
    elapsed = time.monotonic() - started
    frames = screen.getvalue().count("samples/s")
    assert 1 <= frames <= elapsed / Progress.REDRAW + 3
    assert f"{calls:,}/{calls:,}".replace(",", "") in screen.getvalue().replace(",", "")


def test_every_declared_option_is_on_scan_and_audit_and_every_check_option_invalidates_something():
    """Options are declared once (config.option): the CLI must offer each one on both commands, and
    each ScanConfig field must say which stored results it invalidates, or an audit would reuse
    results across a change of it."""
    root = typer.main.get_command(app)
    commands = {"scan": root.commands["scan"], "audit run": root.commands["audit"].commands["run"]}
    holders = (DatasetInput, ScanConfig, RunOptions, CiOptions)
    declared = {spec.flag for holder in holders for spec in declared_options(holder)}
    assert {"--num-classes", "--scale", "--exclude", "--scheduler", "--junit"} <= declared
    for name, command in commands.items():
        flags = {flag for param in command.params for flag in param.opts}
        assert declared <= flags, f"{name} lacks {declared - flags}"
    for item in dataclasses.fields(ScanConfig):
        assert item.metadata["option"]["invalidates"], f"ScanConfig.{item.name} invalidates nothing"


UNEXPECTED = """
import sys
from sanitize import cli

@cli.app.command("boom")
def boom() -> None:
    raise RuntimeError("a bug in a command")

sys.argv = ["sanitize", *sys.argv[1:], "boom"]
cli.main()
"""


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_error_is_exit_2_in_one_line_or_a_traceback_with_debug(tmp_path, debug):
    """A bug (here a command that raises) must not exit 1, which a CI job reads as "errors found"."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    args = ["--debug"] if debug else []
    done = subprocess.run([sys.executable, "-c", UNEXPECTED, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    if debug:
        assert "Traceback" in done.stderr and "RuntimeError: a bug in a command" in done.stderr
    else:
        assert done.stderr.strip().splitlines() == [
            "error: unexpected RuntimeError: a bug in a command (a bug: --debug shows where)"
        ]
