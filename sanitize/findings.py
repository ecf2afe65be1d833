"""The catalogue of findings: every check, every code it can emit, its severity and meaning.

One place declares them all (like frictionless-py's error catalogue or `ruff rule --all`):
`sanitize checks` prints it, `--only CHECK:CODE` is validated against it, docs/checks.md is
generated from it, and every Finding is checked against it when it is made, so a check cannot
emit a code nobody declared (a typo would otherwise select nothing in quarantine, silently).

A code has one usual severity; a few are demoted or promoted by an option, which is declared
beside them (`also`), e.g. `format:extension_mismatch` is a warning under `--allow-mismatch`.
Dataset-wide codes are judged over the whole dataset at the end of a scan (scope "dataset").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sanitize.errors import SanitizeError


class Severity(str, Enum):
    """An error keeps a sample out of training; a warning only asks a human to look."""

    ERROR = "error"
    WARNING = "warning"


ERROR, WARNING = Severity.ERROR, Severity.WARNING


@dataclass(frozen=True)
class Code:
    """One kind of finding: what it means, how severe it is, and what can change that."""

    check: str
    code: str
    severity: Severity
    meaning: str
    #: The other severity an option can give it, and which option (None: always `severity`).
    also: Severity | None = None
    when: str = ""
    #: "sample": judged from one sample; "dataset": judged over the whole dataset.
    scope: str = "sample"

    @property
    def name(self) -> str:
        return f"{self.check}:{self.code}"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "check": self.check,
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "also": self.also.value if self.also else None,
            "when": self.when or None,
            "scope": self.scope,
            "meaning": self.meaning,
        }


def _codes(check: str, *rows: tuple) -> list[Code]:
    return [Code(check, *row) for row in rows]


#: What each check is for, in the order a sample meets them.
CHECK_DESCRIPTIONS: dict[str, str] = {
    "paths": "an entry must name an existing regular file inside the dataset root (never opened otherwise)",
    "decode": "the file must read and decode, every pixel of every frame, within the size limits",
    "format": "the content's real format (magic bytes) must be an allowed image format matching the extension",
    "finite": "float data must hold no NaN or Inf",
    "label": "a label must be an integer class in [0, num_classes) or the ignore label",
    "mask": "a segmentation mask must be a lossless class-index map of its image's size, every pixel a class",
    "probe": "a forward pass through a trivial, numerically stable softmax net must give a finite loss",
    "internal": "a check or the probe failed on this sample (a bug): the sample is not vetted, so it fails",
}

_MASK_PATH = "mask: "
CATALOGUE: tuple[Code, ...] = (
    *_codes(
        "paths",
        ("outside_root", ERROR, "resolves outside the dataset root (../, absolute, a symlink out); never opened"),
        ("missing", ERROR, "no such file"),
        ("not_a_file", ERROR, "not a regular file (a directory, a device, a socket)"),
        ("mask_outside_root", ERROR, f"{_MASK_PATH}resolves outside the dataset root; never opened"),
        ("mask_missing", ERROR, f"{_MASK_PATH}no such file"),
        ("mask_not_a_file", ERROR, f"{_MASK_PATH}not a regular file"),
    ),
    *_codes(
        "decode",
        ("corrupt_data", ERROR, "the decoder failed: truncated file, corrupt entropy data, bad zlib stream or CRC"),
        ("unidentified", ERROR, "no decoder recognises the bytes"),
        ("empty", ERROR, "a zero-byte file, or an empty .npy array"),
        ("decompression_bomb", ERROR, "the header declares more pixels than --max-pixels; refused before decoding"),
        ("too_large", ERROR, "the file is over --max-file-bytes; never read"),
        ("pickled_object", ERROR, ".npy object array (pickled Python objects): refused, never unpickled"),
        ("unsupported_dtype", ERROR, ".npy array of a non-numeric dtype"),
        ("unreadable", ERROR, "the file cannot be read (permissions, I/O error)"),
        ("crashed", ERROR, "checking the file killed the worker process (a decoder crash)"),
        ("jpeg_warning", WARNING, "libjpeg damage that leaves every pixel intact (junk between markers, bad ICC)"),
        ("decoder_warning", WARNING, "Pillow warned while decoding"),
    ),
    *_codes(
        "format",
        (
            "extension_mismatch",
            ERROR,
            "the content is another image format than the extension says (a PNG named .jpg)",
            WARNING,
            "--allow-mismatch",
        ),
        ("not_an_image", ERROR, "not an image at all: HTML, XML, JSON, text, PDF, an archive, a pickle"),
        ("disallowed", ERROR, "an image format not in --formats"),
        ("unsupported_extension", ERROR, "the extension is not a supported sample type"),
    ),
    *_codes("finite", ("nonfinite", ERROR, "NaN, +Inf or -Inf values in float data")),
    *_codes(
        "label",
        ("missing", ERROR, "the entry has no label field"),
        ("not_integer", ERROR, "the label is not an integer (Caffe's atoi reads 3.7 as 3 and cat as 0)"),
        ("out_of_range", ERROR, "the label is outside [0, num_classes) and not the ignore label"),
        ("overflow", ERROR, "the label does not fit in int32"),
    ),
    *_codes(
        "mask",
        ("missing", ERROR, "a segmentation sample without a mask"),
        ("lossy", ERROR, "the mask is a JPEG: lossy compression puts stray values on every class edge"),
        ("size_mismatch", ERROR, "the mask's height and width differ from the image's"),
        ("out_of_range", ERROR, "mask pixels neither a class in [0, num_classes) nor the ignore label"),
        (
            "all_ignored",
            ERROR,
            "every pixel is the ignore label: the loss is 0/0 = NaN under valid normalisation",
            WARNING,
            "--normalization other than valid",
        ),
        ("binary_255", WARNING, "a 0/255 mask with 2 classes: 255 is the ignore label or out of range"),
        ("unreadable", ERROR, "the mask cannot be read"),
        ("empty", ERROR, "the mask is a zero-byte file or an empty array"),
        ("too_large", ERROR, "the mask is over --max-file-bytes; never read"),
        ("not_an_image", ERROR, "the mask is not an image at all (HTML, text, an archive, ...)"),
        ("decompression_bomb", ERROR, "the mask declares more pixels than --max-pixels"),
        ("unidentified", ERROR, "no decoder recognises the mask"),
        ("corrupt_data", ERROR, "the mask does not decode"),
        ("pickled_object", ERROR, ".npy mask of pickled Python objects: refused, never unpickled"),
        ("unsupported_dtype", ERROR, ".npy mask of a non-numeric dtype"),
        ("rgb", ERROR, "an RGB mask where a single-channel index map is expected (give --palette)"),
        ("unmapped_colour", ERROR, "RGB mask colours the palette does not map"),
        ("not_single_channel", ERROR, "the mask is not height x width"),
        ("not_integer", ERROR, "a float mask: class indices must be integers"),
        ("not_an_index_map", ERROR, "too many distinct values to be a class-index map"),
    ),
    *_codes(
        "probe",
        ("nonfinite_loss", ERROR, "the probe's logits, loss or first-step gradient norm are not finite"),
        ("softmax_saturation", WARNING, "a naive float32 softmax gives Caffe's stuck loss 87.3365 on this sample"),
        ("unusable_input", ERROR, "no probe input can be formed from the decoded array"),
    ),
    *_codes(
        "internal",
        ("check_failed", ERROR, "a check raised on this sample (a bug); the sample is not vetted"),
        ("probe_failed", ERROR, "the probe raised on this sample (a bug); the sample is not vetted"),
    ),
    Code(
        "probe",
        "scale_outlier",
        WARNING,
        "the input magnitude is far off the dataset's median: wrong bit depth or value range",
        scope="dataset",
    ),
    Code(
        "mask",
        "rare_value",
        WARNING,
        "a class value that never forms a region in any mask of the dataset: interpolation artefacts",
        scope="dataset",
    ),
)

#: Every code by its name, `check:code`.
CODES: dict[str, Code] = {code.name: code for code in CATALOGUE}


class UndeclaredFinding(ValueError):
    """A finding whose check and code the catalogue does not declare, or with a severity it cannot have."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem one check found in one sample: always a code of the catalogue."""

    check: str
    code: str
    severity: Severity
    message: str

    def __post_init__(self) -> None:
        declared = CODES.get(f"{self.check}:{self.code}")
        if declared is None:
            raise UndeclaredFinding(f"{self.check}:{self.code} is not in the findings catalogue")
        if self.severity is not declared.severity and self.severity is not declared.also:
            raise UndeclaredFinding(f"{self.check}:{self.code} cannot be a {Severity(self.severity).value}")

    @property
    def name(self) -> str:
        return f"{self.check}:{self.code}"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "code": self.code, "severity": self.severity.value, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Finding:
        return cls(data["check"], data["code"], Severity(data["severity"]), data["message"])


def error(check: str, code: str, message: str) -> Finding:
    return Finding(check, code, Severity.ERROR, message)


def warning(check: str, code: str, message: str) -> Finding:
    return Finding(check, code, Severity.WARNING, message)


def closest(name: str, known: list[str]) -> str:
    """' (did you mean X?)' for the known name closest to a typo, or ''."""
    import difflib

    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def parse_selector(text: str, option: str = "--only") -> tuple[str, str | None]:
    """`CHECK` or `CHECK:CODE`, validated against the catalogue; a SanitizeError with a suggestion if not."""
    check, colon, code = text.partition(":")
    if not check or (colon and not code):
        raise SanitizeError(f"{option} takes CHECK or CHECK:CODE (e.g. decode or decode:corrupt_data), got {text!r}")
    if check not in CHECK_DESCRIPTIONS:
        raise SanitizeError(
            f"{option} {text!r}: no check is called {check!r}{closest(check, list(CHECK_DESCRIPTIONS))}"
            f" (known: {', '.join(CHECK_DESCRIPTIONS)}; see `sanitize checks`)"
        )
    if colon and text not in CODES:
        codes = [c.code for c in CATALOGUE if c.check == check]
        raise SanitizeError(
            f"{option} {text!r}: check {check!r} has no code {code!r}{closest(code, codes)}"
            f" (its codes: {', '.join(codes)})"
        )
    return check, code or None
