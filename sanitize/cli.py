"""The command line: options -> one library call -> render -> exit code.

Exit codes: 0 the data passed, 1 problems found, 2 unusable input or arguments (a one-line
message, never a traceback). SanitizeError becomes exit code 2 here and nowhere else.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

import sanitize
from sanitize.errors import SanitizeError
from sanitize.pipeline import FORK_LIMIT

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Keep broken samples out of deep-learning training.",
)


def _floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SanitizeError(f"{option} takes numbers separated by commas, got {text!r}") from None


class Progress:
    """A one-line progress display on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        rate = done / max(time.perf_counter() - self.started, 1e-6)
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {done:,}/{total:,} samples  {rate:,.0f} samples/s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


@app.callback()
def _commands() -> None:
    """Keep broken samples out of deep-learning training."""


NumClasses = Annotated[
    int | None, typer.Option(help="Class count; labels must be in [0, N). Default: the folder count of an ImageFolder.")
]
IgnoreLabel = Annotated[
    int | None, typer.Option(help="A label that is valid but trains nothing (Caffe's ignore_label).")
]
Root = Annotated[
    Path | None, typer.Option(help="Folder the list/CSV paths resolve against. Default: the list's folder.")
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        envvar="DASK_SCHEDULER_ADDRESS",
        help=(
            "Dask scheduler address (tcp://host:8786), 'local' for a local cluster, or 'synchronous' for in-process."
            f" Default: a local cluster, or forked worker processes for at most {FORK_LIMIT:,} samples."
        ),
    ),
]
Workers = Annotated[int | None, typer.Option(help="Local worker processes. Default: one per core.")]


Dataset = Annotated[
    Path | None,
    typer.Argument(help="An ImageFolder directory, a list file (`image label` or `image mask` lines) or a CSV."),
]
PathColumn = Annotated[str, typer.Option(help="CSV column holding the sample path.")]
LabelColumn = Annotated[str, typer.Option(help="CSV column holding the label.")]
AllowMismatch = Annotated[bool, typer.Option(help="A format/extension mismatch is a warning, not an error.")]
Formats = Annotated[str | None, typer.Option(help="Allowed formats, comma-separated (e.g. JPEG,PNG).")]
MaxPixels = Annotated[int | None, typer.Option(help="Decompression-bomb limit in pixels (default: Pillow's).")]
MaxFileBytes = Annotated[
    int | None, typer.Option(help="Files larger than this are not read: decode:too_large (default: 1 GiB).")
]
Probe = Annotated[bool, typer.Option(help="Run the softmax probe forward pass.")]
Scale = Annotated[str | None, typer.Option(help="Probe input scale, one value or three (default: by bit depth).")]
Mean = Annotated[str | None, typer.Option(help="Probe input mean subtracted after scaling, one value or three.")]
Task = Annotated[
    str | None, typer.Option(help="classification or segmentation. Default: what the list file's lines say.")
]
Images = Annotated[Path | None, typer.Option(help="Segmentation: image folder (with --masks, no DATASET).")]
Masks = Annotated[Path | None, typer.Option(help="Segmentation: mask folder, matched to --images by name.")]
ImageSuffix = Annotated[str, typer.Option(help="Stripped from image names to match (_leftImg8bit).")]
MaskSuffix = Annotated[str, typer.Option(help="Added to the image name to find its mask (_labelIds.png).")]
Normalization = Annotated[
    str, typer.Option(help="Per-pixel loss normalisation: valid (PyTorch's mean), full, batch_size or none.")
]
Palette = Annotated[Path | None, typer.Option(help='JSON {"R,G,B": class} for RGB colour-coded masks.')]
Exclude = Annotated[
    list[Path] | None, typer.Option(help="A folder inside the dataset that is not part of it (repeatable).")
]

#: Options sanitize.scan (and audit) take as they come from the command line.
_PASSED_ON = (
    "num_classes",
    "root",
    "path_column",
    "label_column",
    "scheduler",
    "workers",
    "out",
    "images",
    "masks",
    "image_suffix",
    "mask_suffix",
    "palette",
    "ignore_label",
    "allow_mismatch",
    "probe",
    "task",
    "normalization",
)


def _scan_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """sanitize.scan's keyword arguments (audit's too) from a command's parsed options."""
    arguments = {name: params[name] for name in _PASSED_ON}
    arguments["exclude"] = tuple(params["exclude"] or ())
    if params["formats"]:
        arguments["formats"] = tuple(f.strip().upper() for f in params["formats"].split(",") if f.strip())
    for limit in ("max_pixels", "max_file_bytes"):
        if params[limit] is not None:
            arguments[limit] = params[limit]
    arguments["probe_scale"] = _floats(params["scale"], "--scale")
    if params["mean"] is not None:
        arguments["probe_mean"] = _floats(params["mean"], "--mean")
    return arguments


@app.command()
def scan(
    ctx: typer.Context,
    dataset: Dataset = None,
    num_classes: NumClasses = None,
    ignore_label: IgnoreLabel = None,
    root: Root = None,
    path_column: PathColumn = "path",
    label_column: LabelColumn = "label",
    allow_mismatch: AllowMismatch = False,
    formats: Formats = None,
    max_pixels: MaxPixels = None,
    max_file_bytes: MaxFileBytes = None,
    probe: Probe = True,
    scale: Scale = None,
    mean: Mean = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
    out: Annotated[Path, typer.Option(help="Report folder: findings.jsonl, summary.json, clean.txt.")] = Path(
        "sanitize-report"
    ),
    max_errors: Annotated[int, typer.Option(min=0, help="Exit 0 while at most this many samples have errors.")] = 0,
    task: Task = None,
    images: Images = None,
    masks: Masks = None,
    image_suffix: ImageSuffix = "",
    mask_suffix: MaskSuffix = "",
    normalization: Normalization = "valid",
    palette: Palette = None,
    exclude: Exclude = None,
    quarantine: Annotated[
        Path | None, typer.Option(help="Then move every sample with an error into this folder (see `quarantine`).")
    ] = None,
) -> None:
    """Check every sample; exit 0 if the data is fit to train on, 1 if not, 2 on bad input.

    With --quarantine the exit code is the quarantine's: 0 once every sample with an error was moved out.
    """
    report = sanitize.scan(dataset, on_progress=Progress(), **_scan_arguments(ctx.params))
    typer.echo(report.render(max_errors))
    typer.echo(f"report: {out}/")
    if quarantine is None:
        raise typer.Exit(report.exit_code(max_errors))
    moved = sanitize.quarantine(out, quarantine)
    typer.echo(moved.render())
    raise typer.Exit(moved.exit_code)


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
def audit_run(
    ctx: typer.Context,
    dataset: Dataset = None,
    db: Db = Path("audit.sqlite"),
    num_classes: NumClasses = None,
    ignore_label: IgnoreLabel = None,
    root: Root = None,
    path_column: PathColumn = "path",
    label_column: LabelColumn = "label",
    allow_mismatch: AllowMismatch = False,
    formats: Formats = None,
    max_pixels: MaxPixels = None,
    max_file_bytes: MaxFileBytes = None,
    probe: Probe = True,
    scale: Scale = None,
    mean: Mean = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
    out: Annotated[Path, typer.Option(help="Report folder: the scan's files plus diff.json.")] = Path(
        "sanitize-report"
    ),
    task: Task = None,
    images: Images = None,
    masks: Masks = None,
    image_suffix: ImageSuffix = "",
    mask_suffix: MaskSuffix = "",
    normalization: Normalization = "valid",
    palette: Palette = None,
    exclude: Exclude = None,
    verify_hashes: Annotated[
        bool, typer.Option(help="Also compare each file's blake2b hash (catches same-size, same-mtime rewrites).")
    ] = False,
    fail_on: Annotated[
        sanitize.FailOn, typer.Option(help="Exit 1 on errors new since the last audit, or on any error.")
    ] = sanitize.FailOn.NEW,
) -> None:
    """Scan incrementally (`sanitize audit DATASET --db audit.sqlite`): unchanged samples reuse their stored result."""
    arguments = _scan_arguments(ctx.params)
    result = sanitize.audit(dataset, db, verify_hashes=verify_hashes, on_progress=Progress(), **arguments)
    typer.echo(result.render(fail_on))
    typer.echo(f"report: {out}/")
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


def main() -> None:
    """Console entry point: SanitizeError becomes a one-line message and exit code 2.

    Usage errors are click's own (a short message, exit code 2).
    """
    try:
        app()
    except SanitizeError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
