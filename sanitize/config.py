"""Everything that changes what a scan concludes, in one picklable, hashable object, with every
option declared once: its name, type and default (the dataclass field), its help text, its
command-line flag, and which stored results it invalidates. The CLI builds its options from
these declarations (cli.py) and the audit its fingerprints (audit.reuse), so adding an option
is one field here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from enum import Enum
from typing import Any, get_type_hints

from sanitize.errors import SanitizeError
from sanitize.formats import ALL_FORMATS

#: Kinds of stored result an option can invalidate (see audit.reuse): a file's own results
#: (decode, format, finite, mask findings), a segmentation mask's judgement, the probe's results.
FILE, MASK, PROBE = "file", "mask", "probe"


@dataclass(frozen=True)
class OptionSpec:
    """One declared option, as the CLI and the audit see it."""

    name: str
    help: str
    flag: str
    invalidates: tuple[str, ...]
    #: The command-line type (e.g. str for a comma-separated list) and how to turn it into the value.
    cli_type: Any
    cli_default: Any
    parse: Callable[[Any], Any] | None
    envvar: str | None


def option(
    default: Any = MISSING,
    *,
    help: str,
    invalidates: tuple[str, ...] = (),
    flag: str | None = None,
    cli: bool = True,
    cli_type: Any = None,
    cli_default: Any = MISSING,
    parse: Callable[[Any], Any] | None = None,
    envvar: str | None = None,
) -> Any:
    """A dataclass field that declares an option (see OptionSpec); `cli=False` keeps it off the command line."""
    metadata = {
        "help": help,
        "invalidates": invalidates,
        "flag": flag,
        "cli": cli,
        "cli_type": cli_type,
        "cli_default": cli_default,
        "parse": parse,
        "envvar": envvar,
    }
    return field(default=default, metadata={"option": metadata})


def declared_options(cls: type) -> list[OptionSpec]:
    """The options a dataclass declares with `option()`, in field order (command-line ones only)."""
    specs = []
    types = get_type_hints(cls)
    for item in fields(cls):
        meta = item.metadata.get("option")
        if meta is None or not meta["cli"]:
            continue
        default = item.default if item.default is not MISSING else None
        specs.append(
            OptionSpec(
                name=item.name,
                help=meta["help"],
                flag=meta["flag"] or f"--{item.name.replace('_', '-')}",
                invalidates=meta["invalidates"],
                cli_type=meta["cli_type"] or types[item.name],
                cli_default=default if meta["cli_default"] is MISSING else meta["cli_default"],
                parse=meta["parse"],
                envvar=meta["envvar"],
            )
        )
    return specs


def invalidating(cls: type, kind: str) -> tuple[str, ...]:
    """The fields of `cls` whose change invalidates stored results of `kind` (FILE, MASK, PROBE)."""
    return tuple(item.name for item in fields(cls) if kind in _option_meta(item).get("invalidates", ()))


def _option_meta(item: Field) -> dict[str, Any]:
    return item.metadata.get("option", {})


def _comma_separated(text: str) -> tuple[str, ...]:
    return tuple(part.strip().upper() for part in text.split(",") if part.strip())


def _numbers(flag: str) -> Callable[[str], tuple[float, ...]]:
    def parse(text: str) -> tuple[float, ...]:
        try:
            return tuple(float(part) for part in text.split(","))
        except ValueError:
            raise SanitizeError(f"{flag} takes numbers separated by commas, got {text!r}") from None

    return parse


#: What a sample's label is: one class per image, or a class per pixel (a mask).
TASKS = ("classification", "segmentation")
#: How a per-pixel loss is divided (Caffe's NormalizationMode): by the non-ignored pixels
#: (PyTorch's mean; 0/0 for an all-ignored mask), by all pixels, by the batch size, or not.
NORMALIZATIONS = ("valid", "full", "batch_size", "none")
#: Whether concealed JPEG corruption is looked for, and what a finding of it is.
CONCEALED = ("off", "warn", "error")
#: The ignore label of masks unless one is given (VOC's boundary value).
MASK_IGNORE_LABEL = 255


#: Pillow's own decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS, a test holds them equal):
#: written out so that reading the options (`sanitize --help`) does not load Pillow.
PILLOW_MAX_IMAGE_PIXELS = 89_478_485

#: The largest class count: labels are int32, and the probe's layer has 768 x N weights.
MAX_CLASSES = 1_000_000


@dataclass(frozen=True)
class ScanConfig:
    """Options of the checks and the probe (not of the runner: workers, scheduler)."""

    num_classes: int = option(
        help="Class count; labels must be in [0, N). Default: the folder count of an ImageFolder.",
        invalidates=(MASK, PROBE),
        cli_type=int | None,
    )
    ignore_label: int | None = option(
        None, help="A label that is valid but trains nothing (Caffe's ignore_label).", invalidates=(MASK, PROBE)
    )
    allow_mismatch: bool = option(
        False, help="A format/extension mismatch is a warning, not an error.", invalidates=(FILE,)
    )
    concealed: str = option(
        "warn",
        help=(
            "Look for JPEG damage libjpeg decodes without a word (decode:concealed_corruption): warn, error or off."
            " No false positive on real photographs, about 81% of visibly damaging bit flips found, for about 5% of"
            " the scan's photo throughput (docs/checks.md#concealed-jpeg-corruption)."
        ),
        invalidates=(FILE,),
    )
    formats: tuple[str, ...] = option(
        ALL_FORMATS,
        help="Allowed formats, comma-separated (e.g. JPEG,PNG).",
        invalidates=(FILE,),
        cli_type=str | None,
        cli_default=None,
        parse=_comma_separated,
    )
    max_pixels: int = option(
        PILLOW_MAX_IMAGE_PIXELS,
        help="Decompression-bomb limit in pixels (default: Pillow's).",
        invalidates=(FILE,),
        cli_type=int | None,
        cli_default=None,
    )
    #: A file larger than this is not read (nor memory-mapped: .npy arrays too): at Pillow's
    #: pixel limit even 16-bit RGBA without compression stays under it.
    max_file_bytes: int = option(
        1 << 30,
        help="Files larger than this are not read: decode:too_large (default: 1 GiB).",
        invalidates=(FILE,),
        cli_type=int | None,
        cli_default=None,
    )
    probe: bool = option(True, help="Run the softmax probe forward pass.", invalidates=(PROBE,))
    probe_scale: tuple[float, ...] | None = option(
        None,
        help="Probe input scale, one value or three (default: by bit depth).",
        invalidates=(PROBE,),
        flag="--scale",
        cli_type=str | None,
        parse=_numbers("--scale"),
    )
    probe_mean: tuple[float, ...] = option(
        (0.0,),
        help="Probe input mean subtracted after scaling, one value or three.",
        invalidates=(PROBE,),
        flag="--mean",
        cli_type=str | None,
        cli_default=None,
        parse=_numbers("--mean"),
    )
    probe_grid: int = option(16, help="The probe's grid side.", invalidates=(PROBE,), cli=False)
    probe_seed: int = option(0, help="The probe's weight seed.", invalidates=(PROBE,), cli=False)
    #: Resolved from the input (see datasets.DatasetInput.task), never given alone.
    task: str = option("classification", help="classification or segmentation.", invalidates=(FILE,), cli=False)
    normalization: str = option(
        "valid",
        help="Per-pixel loss normalisation: valid (PyTorch's mean), full, batch_size or none.",
        invalidates=(MASK, PROBE),
    )
    #: RGB mask colours to classes as (r, g, b, class) rows, read from datasets.DatasetInput.palette.
    palette: tuple[tuple[int, int, int, int], ...] | None = option(
        None, help="RGB mask colours to classes.", invalidates=(FILE,), cli=False
    )

    @property
    def mask_ignore_label(self) -> int:
        return MASK_IGNORE_LABEL if self.ignore_label is None else self.ignore_label

    def __post_init__(self) -> None:
        if not 1 <= self.num_classes <= MAX_CLASSES:
            raise SanitizeError(f"--num-classes must be from 1 to {MAX_CLASSES:,}, got {self.num_classes}")
        if self.max_pixels < 1:
            raise SanitizeError(f"--max-pixels must be at least 1, got {self.max_pixels}")
        if self.max_file_bytes < 1:
            raise SanitizeError(f"--max-file-bytes must be at least 1, got {self.max_file_bytes}")
        for name, values in (("--scale", self.probe_scale or (1.0,)), ("--mean", self.probe_mean)):
            if len(values) not in (1, 3):
                raise SanitizeError(f"{name} takes one value or three (one per channel), got {len(values)}")
            if not all(math.isfinite(v) for v in values):
                raise SanitizeError(f"{name} values must be finite numbers, got {', '.join(map(str, values))}")
        if self.probe_scale and 0 in self.probe_scale:
            raise SanitizeError("--scale 0 would blank every input; use --no-probe to switch the probe off")
        if not self.formats:
            raise SanitizeError(f"--formats names no format; known: {', '.join(ALL_FORMATS)}")
        if self.probe_grid < 1:
            raise SanitizeError(f"the probe grid must be at least 1, got {self.probe_grid}")
        choices = (
            ("--task", self.task, TASKS),
            ("--normalization", self.normalization, NORMALIZATIONS),
            ("--concealed", self.concealed, CONCEALED),
        )
        for name, value, known in choices:
            if value not in known:
                raise SanitizeError(f"{name} must be one of {', '.join(known)}, got {value!r}")
        unknown = sorted(set(self.formats) - set(ALL_FORMATS))
        if unknown:
            raise SanitizeError(f"unknown format(s) {', '.join(unknown)}; known: {', '.join(ALL_FORMATS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanConfig:
        """The configuration `to_dict` gave, read back from JSON (lists become tuples again);
        options it does not know are left out. TypeError or SanitizeError when it is not one."""
        known = {item.name for item in fields(cls)}
        return cls(**{name: _tuples(value) for name, value in data.items() if name in known})

    def fingerprint(self, fields: tuple[str, ...] | None = None, **extra: object) -> str:
        """A stable hash of the configuration: equal fingerprints mean equal conclusions.

        `fields` limits it to the options one kind of result depends on; `extra` adds what else
        it depends on (e.g. library versions).
        """
        data = self.to_dict()
        if fields is not None:
            data = {name: data[name] for name in fields}
        text = json.dumps({**data, **extra}, sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _tuples(value: Any) -> Any:
    """JSON lists as the tuples ScanConfig holds (formats, probe_scale, palette rows)."""
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


SYNCHRONOUS = "synchronous"
LOCAL = "local"
#: Runs of at most this many samples are checked by forked workers unless a scheduler is named.
FORK_LIMIT = 1024
#: How long one sample may take to check: a 100-megapixel PNG takes a few seconds, a hang forever.
DEFAULT_SAMPLE_TIMEOUT = 60.0


@dataclass(frozen=True)
class RunOptions:
    """Where the samples are checked (never what is concluded): options declared once (config.option)."""

    scheduler: str | None = option(
        None,
        help=(
            "Dask scheduler address (tcp://host:8786), 'local' for a local cluster, or 'synchronous' for in-process."
            f" Default: a local cluster, or forked worker processes for at most {FORK_LIMIT:,} samples."
        ),
        envvar="DASK_SCHEDULER_ADDRESS",
    )
    workers: int | None = option(None, help="Local worker processes. Default: one per core.")
    sample_timeout: float = option(
        DEFAULT_SAMPLE_TIMEOUT,
        help=(
            "Seconds one sample may take to check before it is abandoned as decode:timeout and its worker"
            " replaced (a decoder that hangs); 0 for no limit. Not enforced with --scheduler synchronous."
        ),
    )

    def __post_init__(self) -> None:
        if not self.sample_timeout >= 0:  # NaN too
            raise SanitizeError(f"--sample-timeout must be 0 (no limit) or more seconds, got {self.sample_timeout}")


@dataclass(frozen=True)
class CiOptions:
    """What a scan or an audit writes for a CI beside its report folder (never what is concluded)."""

    junit: str | None = option(
        None, help="Also write a JUnit XML test report to this local file: a testcase per check, one for the verdict."
    )

    @classmethod
    def take(cls, options: dict[str, Any]) -> CiOptions:
        """These options, removed from one set of keyword options (the rest are the scan's)."""
        return cls(**{item.name: options.pop(item.name) for item in fields(cls) if item.name in options})


class FailOn(str, Enum):
    """When an audit exits 1: new errors since the last audit, or any error."""

    NEW = "new"
    ANY = "any"
