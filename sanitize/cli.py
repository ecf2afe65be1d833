"""The command line: options -> one library call -> render -> exit code.

Exit codes: 0 the data passed, 1 problems found, 2 unusable input or arguments (a one-line
message, never a traceback). SanitizeError becomes exit code 2 here and nowhere else.
"""

from __future__ import annotations

import functools
import inspect
import io
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

import sanitize
from sanitize.config import CiOptions, OptionSpec, RunOptions, ScanConfig, declared_options
from sanitize.datasets import DatasetInput
from sanitize.errors import SanitizeError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Keep broken samples out of deep-learning training.",
)


class Progress:
    """A progress bar with rate and ETA on stderr while it is a terminal (rich's), silent otherwise.

    The scan core calls it once per batch (`on_progress`), never per sample, and it redraws at most
    every REDRAW seconds: its cost per sample is nil. It starts no thread (rich's auto-refresh
    would), so a small run is still checked by forked workers (pipeline.forking_is_safe).
    """

    REDRAW = 0.1

    def __init__(self, console: Any = None) -> None:
        self.bar: Any = None
        self.task: Any = None
        self.console = console
        self.started = self.drawn = 0.0

    def __enter__(self) -> Progress:
        if self.console is None and not sys.stderr.isatty():
            return self
        from rich import progress as rich
        from rich.console import Console

        self.bar = rich.Progress(
            rich.BarColumn(),
            rich.MofNCompleteColumn(),
            rich.TextColumn("samples  {task.fields[rate]}"),
            console=self.console or Console(stderr=True),
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.task = self.bar.add_task("scan", total=None, rate="")
        self.bar.start()
        self.started = time.monotonic()
        return self

    def __call__(self, done: int, total: int | None) -> None:
        """`total` is None while the dataset is still being listed (a folder is listed as it is checked)."""
        if self.bar is None:
            return
        now = time.monotonic()
        if now - self.drawn < self.REDRAW and done != total:
            return
        self.drawn = now
        rate = done / max(now - self.started, 1e-6)
        eta = "" if total is None or not rate else f"  ETA {_duration((total - done) / rate)}"
        self.bar.update(self.task, completed=done, total=total, rate=f"{rate:,.0f} samples/s{eta}")
        self.bar.refresh()

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _duration(seconds: float) -> str:
    """h:mm:ss, or m:ss under an hour."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


#: Set by --debug: an unexpected error shows its traceback.
_DEBUG = {"on": False}


@app.callback()
def _commands(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an unexpected error.")] = False,
) -> None:
    """Keep broken samples out of deep-learning training."""
    _DEBUG["on"] = debug


KEYWORD = inspect.Parameter.KEYWORD_ONLY


def _declared(*holders: type) -> list[tuple[OptionSpec, inspect.Parameter]]:
    """A command parameter for every option the classes declare (config.option), in their order."""
    parameters = []
    for holder in holders:
        for spec in declared_options(holder):
            default_flag = f"--{spec.name.replace('_', '-')}"
            decls = () if spec.flag == default_flag else (spec.flag,)
            info = typer.Option(*decls, help=spec.help, envvar=spec.envvar)
            annotation = Annotated[spec.cli_type, info]
            parameters.append(
                (
                    spec,
                    inspect.Parameter(
                        spec.name, inspect.Parameter.KEYWORD_ONLY, default=spec.cli_default, annotation=annotation
                    ),
                )
            )
    return parameters


def with_options(*holders: type) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The command also takes every option DatasetInput, ScanConfig and RunOptions declare, each
    defined once there; they reach the command parsed, as one `options` dict of the values given
    (an option left out keeps its declared default)."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = [p for name, p in inspect.signature(command, eval_str=True).parameters.items() if name != "options"]
        declared = _declared(*holders)
        specs = {spec.name: spec for spec, _ in declared}

        @functools.wraps(command)
        def run(**arguments: Any) -> None:
            options = {}
            for name, spec in specs.items():
                value = arguments.pop(name)
                if value is not None:
                    options[name] = spec.parse(value) if spec.parse else value
            command(**arguments, options=options)

        del run.__wrapped__  # typer reads __signature__, not the wrapped command's
        rest = [p.replace(kind=KEYWORD) for p in own[1:]]
        run.__signature__ = inspect.Signature([*own[:1], *(p for _, p in declared), *rest])
        return run

    return decorate


#: The report folder unless --out names another (a str, not a Path: a URL must reach the library whole).
OUT = "sanitize-report"

#: The options scan and audit share, in the order --help lists them.
SCAN_OPTIONS = (DatasetInput, ScanConfig, RunOptions, CiOptions)


def _ci_options(options: dict[str, Any]) -> CiOptions:
    """The CI options, taken out of the scan's and checked before the scan (a bad --junit costs no scan)."""
    ci = CiOptions.take(options)
    if ci.junit is not None:
        from sanitize.report.junit import junit_target

        junit_target(ci.junit)
    return ci


def _ci_outputs(ci: CiOptions, report: sanitize.Report, exit_code: int, verdict: str, title: str) -> None:
    """After the table: --junit's file, and under GitHub Actions the annotations and the step summary."""
    if ci.junit is not None:
        sanitize.write_junit(report, ci.junit, exit_code, verdict)
    sanitize.report_to_github(report, exit_code, verdict, title=title)


Dataset = Annotated[
    str | None,  # not a Path: an s3:// URL would lose a slash
    typer.Argument(
        help="An ImageFolder directory, a list file (`image label` or `image mask` lines) or a CSV; or an"
        " object-storage URL of one (s3://bucket/train.txt, s3://bucket/train/)."
    ),
]


@app.command()
@with_options(*SCAN_OPTIONS)
def scan(
    dataset: Dataset = None,
    out: Annotated[str, typer.Option(help="Report folder: findings.jsonl, summary.json, clean.txt.")] = OUT,
    max_errors: Annotated[int, typer.Option(min=0, help="Exit 0 while at most this many samples have errors.")] = 0,
    quarantine: Annotated[
        Path | None, typer.Option(help="Then move every sample with an error into this folder (see `quarantine`).")
    ] = None,
    *,
    options: dict[str, Any],
) -> None:
    """Check every sample; exit 0 if the data is fit to train on, 1 if not, 2 on bad input.

    With --quarantine the exit code is the quarantine's: 0 once every sample with an error was moved out.
    """
    ci = _ci_options(options)
    with Progress() as progress:
        report = sanitize.scan(dataset, out=out, on_progress=progress, **options)
    typer.echo(report.render(max_errors))
    _report_written(out, report.html_problem)
    _ci_outputs(ci, report, report.exit_code(max_errors), report.verdict(max_errors), "sanitize scan")
    if quarantine is None:
        raise typer.Exit(report.exit_code(max_errors))
    moved = sanitize.quarantine(out, quarantine)
    typer.echo(moved.render())
    raise typer.Exit(moved.exit_code)


def _report_written(out: str, html_problem: str | None) -> None:
    """Where the report is; why report.html is missing, if it is (the exit code does not change)."""
    typer.echo(f"report: {out}/")
    if html_problem is not None:
        typer.echo(f"warning: {html_problem}", err=True)


class _AuditGroup(TyperGroup):
    """`sanitize audit DATASET ...` is short for `sanitize audit run DATASET ...`; `history` is a command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(
    cls=_AuditGroup,
    no_args_is_help=True,
    help="Nightly audits: incremental scans kept in a SQLite store, with a diff against the last audit.",
)
app.add_typer(audit_app, name="audit")
Db = Annotated[Path, typer.Option(help="The audit store (SQLite), created on the first audit.")]


@audit_app.command("run")
@with_options(*SCAN_OPTIONS)
def audit_run(
    dataset: Dataset = None,
    db: Db = Path("audit.sqlite"),
    out: Annotated[str, typer.Option(help="Report folder: the scan's files plus diff.json.")] = OUT,
    verify_hashes: Annotated[
        bool, typer.Option(help="Also compare each file's blake2b hash (catches same-size, same-mtime rewrites).")
    ] = False,
    fail_on: Annotated[
        sanitize.FailOn, typer.Option(help="Exit 1 on errors new since the last audit, or on any error.")
    ] = sanitize.FailOn.NEW,
    *,
    options: dict[str, Any],
) -> None:
    """Scan incrementally (`sanitize audit DATASET --db audit.sqlite`): unchanged samples reuse their stored result."""
    ci = _ci_options(options)
    with Progress() as progress:
        result = sanitize.audit(dataset, db, out=out, verify_hashes=verify_hashes, on_progress=progress, **options)
    typer.echo(result.render(fail_on))
    _report_written(out, result.report.html_problem)
    _ci_outputs(ci, result.report, result.exit_code(fail_on), result.verdict(fail_on), "sanitize audit")
    raise typer.Exit(result.exit_code(fail_on))


@audit_app.command("history")
def audit_history(db: Db = Path("audit.sqlite")) -> None:
    """One line per past audit of the store, oldest first."""
    for record in sanitize.history(db):
        typer.echo(record.render())


Only = Annotated[
    list[str] | None, typer.Option(help="Move only samples with this finding: CHECK or CHECK:CODE (repeatable).")
]
DryRun = Annotated[bool, typer.Option(help="Print what would move; change nothing.")]


@app.command("quarantine")
def quarantine_command(
    report_dir: Annotated[Path, typer.Argument(help="The report folder a scan wrote (--out).")],
    to: Annotated[Path, typer.Option(help="The quarantine folder (QDIR); created if needed.")],
    include_warnings: Annotated[bool, typer.Option(help="Move samples with warnings too.")] = False,
    only: Only = None,
    dry_run: DryRun = False,
    in_place: Annotated[
        bool, typer.Option(help="Rewrite the list/CSV itself (after a .bak backup) instead of writing NAME.clean.txt.")
    ] = False,
) -> None:
    """Move the samples with errors out of the dataset into QDIR, with a manifest; exit 1 if some could not move."""
    result = sanitize.quarantine(
        report_dir, to, include_warnings=include_warnings, only=only or (), dry_run=dry_run, in_place=in_place
    )
    typer.echo(result.render())
    raise typer.Exit(result.exit_code)


@app.command("restore")
def restore_command(
    qdir: Annotated[Path, typer.Argument(help="A quarantine folder.")],
    only: Annotated[
        list[str] | None, typer.Option(help="Restore only this path, as the dataset names it (repeatable).")
    ] = None,
    dry_run: DryRun = False,
) -> None:
    """Move quarantined files back, byte-identical; never overwrites; exit 1 if some could not go back."""
    result = sanitize.restore(qdir, only=only or (), dry_run=dry_run)
    typer.echo(result.render())
    raise typer.Exit(result.exit_code)


@app.command("report")
def report_command(
    report_dir: Annotated[Path, typer.Argument(help="The report folder a scan or audit wrote (--out).")],
) -> None:
    """Draw report.html again from the folder's findings.jsonl and summary.json (no scan)."""
    typer.echo(f"report: {sanitize.render_report(report_dir)}")


@app.command("checks")
def checks_command(
    selectors: Annotated[
        list[str] | None, typer.Argument(help="CHECK or CHECK:CODE to show (default: every code).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable: a JSON list of codes.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="The markdown table docs/checks.md holds.")] = False,
) -> None:
    """Every check and finding code, with its severity and meaning (like `ruff rule --all`)."""
    codes = sanitize.select_codes(selectors or ())
    if as_json:
        typer.echo(json.dumps([code.to_dict() for code in codes], indent=2))
    elif markdown:
        typer.echo(sanitize.codes_markdown(tuple(codes)))
    else:
        typer.echo(sanitize.render_codes(codes))


def main() -> None:
    """Console entry point: SanitizeError becomes a one-line message and exit code 2.

    Usage errors are click's own (a short message, exit code 2). Anything else is a bug: one line
    and exit code 2 too (the traceback with --debug), never 1, which says "errors found" to a CI job.
    """
    if isinstance(sys.stdout, io.TextIOWrapper):
        # A file name that is not UTF-8 (lone surrogates, os.fsdecode) is printed as its own bytes,
        # as ls does: Python escapes them so only in the C and C.UTF-8 locales, and under another
        # (en_US.UTF-8) the table would be a UnicodeEncodeError.
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        app()
    except SanitizeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the last guard: a bug must not pass for a verdict
        if _DEBUG["on"]:
            traceback.print_exc()
        else:
            typer.echo(f"error: unexpected {type(exc).__name__}: {exc} (a bug: --debug shows where)", err=True)
        sys.exit(2)
