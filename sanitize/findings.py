"""The catalogue of findings: every check, every code it can emit, its severity and meaning.

One place declares them all (like frictionless-py's error catalogue or `ruff rule --all`):
`sanitize checks` prints it, `--only CHECK:CODE` is validated against it, docs/checks.md is
generated from it, and every Finding is checked against it when it is made, so a check cannot
emit a code nobody declared (a typo would otherwise select nothing in quarantine, silently).

A code has one usual severity; a few are demoted or promoted by an option, which is declared
beside them (`also`), e.g. `format:extension_mismatch` is a warning under `--allow-mismatch`.
Dataset-wide codes are judged over the whole dataset at the end of a scan (scope "dataset").
The module runs over 400 lines because it holds one declaration per code, and grows with each check.
"""

from __future__ import annotations

from collections.abc import Iterable
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


#: What each check is for, in the order a sample meets them.
CHECK_DESCRIPTIONS: dict[str, str] = {
    "paths": "an entry must name an existing regular file inside the dataset root (never opened otherwise)",
    "container": "an LMDB record must be a whole Caffe Datum; a tar shard must be whole, each sample with an image",
    "decode": "the file must read and decode, every pixel of every frame, within the size limits",
    "format": "the content's real format (magic bytes) must be an allowed image format matching the extension",
    "finite": "float data must hold no NaN or Inf",
    "label": "a label must be an integer class in [0, num_classes) or the ignore label",
    "mode": "images should share one colour mode and layout, and look the same in every loader",
    "mask": "a segmentation mask must be a lossless class-index map of its image's size, every pixel a class",
    "probe": "a forward pass through a trivial, numerically stable softmax net must give a finite loss",
    "duplicate": "an image should be in the dataset once, and never under two labels",
    "leakage": "a training image must not be in a validation set (--against)",
    "internal": "a check or the probe failed on this sample (a bug): the sample is not vetted, so it fails",
}

CATALOGUE: tuple[Code, ...] = (
    Code(
        "paths",
        "outside_root",
        ERROR,
        (
            "the entry escapes the dataset root (../x.jpg, an absolute path elsewhere, a symlink pointing out); it is"
            " never opened"
        ),
    ),
    Code("paths", "missing", ERROR, "the listed file does not exist"),
    Code("paths", "not_a_file", ERROR, "the entry is not a regular file"),
    Code(
        "paths",
        "mask_outside_root",
        ERROR,
        "the mask path leaves the dataset root; the mask is never opened (the image is still checked)",
    ),
    Code("paths", "mask_missing", ERROR, "the mask path does not exist (the image is still checked)"),
    Code("paths", "mask_not_a_file", ERROR, "the mask path is not a regular file (the image is still checked)"),
    Code(
        "paths",
        "mask_unreadable",
        ERROR,
        "mask: an object in object storage whose status cannot be read (the image is still checked)",
    ),
    Code(
        "paths",
        "unreadable",
        ERROR,
        "an object in object storage whose status cannot be read (no permission, or the store kept failing"
        " after the storage library's retries); never read",
    ),
    Code(
        "decode",
        "corrupt_data",
        ERROR,
        (
            "truncated files, broken zlib streams, PNG chunk CRC errors, damaged later frames (every frame is"
            " decoded), JPEG damage strict libjpeg-turbo refuses, a broken .npy (one whose header declares more"
            " data than the file holds is refused before anything is allocated)"
        ),
    ),
    Code(
        "decode",
        "unidentified",
        ERROR,
        "Pillow cannot open the file (an error even if another library could read it: see docs/checks.md, Decoding)",
    ),
    Code("decode", "empty", ERROR, "a zero-byte file, or an empty .npy array"),
    Code(
        "decode",
        "decompression_bomb",
        ERROR,
        (
            "the image's header declares more than --max-pixels (default: Pillow's 89,478,485); refused before any"
            " pixel is allocated"
        ),
    ),
    Code(
        "decode",
        "too_large",
        ERROR,
        (
            "the file is over --max-file-bytes (default 1 GiB); never read, so a stray multi-GB file cannot exhaust a"
            " worker's memory; .npy arrays too (a .npy's data is what a loader's np.load allocates)"
        ),
    ),
    Code("decode", "pickled_object", ERROR, "a pickled .npy (an object array): refused, never unpickled"),
    Code("decode", "unsupported_dtype", ERROR, "a .npy array whose dtype is not numeric"),
    Code("decode", "unreadable", ERROR, "the file cannot be read (an OS error)"),
    Code(
        "decode",
        "crashed",
        ERROR,
        (
            "checking this file crashed its decoder and killed the worker process; the sample is isolated and the"
            " scan goes on (see docs/dask.md)"
        ),
    ),
    Code(
        "decode",
        "timeout",
        ERROR,
        (
            "checking this file took longer than --sample-timeout (a decoder that hangs); its worker was replaced,"
            " the rest of its batch re-run and the scan goes on (see docs/dask.md)"
        ),
    ),
    Code(
        "decode",
        "jpeg_warning",
        WARNING,
        (
            "libjpeg damage that leaves every pixel intact (junk between the header markers of a single-scan JPEG, a"
            " broken ICC profile); in a progressive JPEG such junk means a broken scan, an error (corrupt_data)"
        ),
    ),
    Code(
        "decode",
        "concealed_corruption",
        WARNING,
        (
            "a JPEG that strict libjpeg-turbo decodes without a word but whose entropy-coded data carries a mark no"
            " clean encoder leaves (a DC value or colour out of range, a run past the block, bad padding...), or whose"
            " DC values jump by one offset from one MCU on: a flipped bit; the message names the MCU row and column"
        ),
        also=ERROR,
        when="--concealed error",
    ),
    Code("decode", "decoder_warning", WARNING, "a Pillow warning"),
    Code(
        "format",
        "extension_mismatch",
        ERROR,
        (
            "the content's format, detected from magic bytes, is not the one the extension promises: a PNG or GIF"
            " named .jpg, and so on"
        ),
        also=WARNING,
        when="--allow-mismatch",
    ),
    Code(
        "format", "not_an_image", ERROR, "an HTML/XML/JSON/PDF/archive saved under an image name (the DNS-hijack case)"
    ),
    Code("format", "disallowed", ERROR, "a format not in --formats"),
    Code(
        "format",
        "unsupported_extension",
        ERROR,
        "a listed file of another kind: its extension is not a sample type (see docs/inputs.md)",
    ),
    Code(
        "finite",
        "nonfinite",
        ERROR,
        "NaN, +Inf, -Inf counts in float data (float TIFF, float .npy); integer images cost nothing here",
    ),
    Code("label", "missing", ERROR, "the label field is missing"),
    Code("label", "not_integer", ERROR, "3.7, nan, cat (Caffe's atoi silently reads 3 and 0)"),
    Code("label", "out_of_range", ERROR, "negative values, num_classes itself and above; the ignore label is valid"),
    Code("label", "overflow", ERROR, "values beyond int32"),
    Code(
        "mode",
        "minority",
        WARNING,
        (
            "the image's mode (channels, bit depth) is not the one most of the dataset has: a grey, RGBA, CMYK,"
            " palette or 16-bit file among RGB photos breaks batching or shifts colours; names the majority"
        ),
        scope="dataset",
    ),
    Code(
        "mode",
        "cmyk",
        WARNING,
        "a CMYK or YCCK JPEG: decoders convert its colours differently (Adobe's inverted CMYK), so they differ",
    ),
    Code(
        "mode",
        "exif_rotated",
        WARNING,
        (
            "an EXIF orientation other than 1: loaders that apply it (PIL's exif_transpose, torchvision.io) and"
            " those that do not (cv2 with IMREAD_IGNORE_ORIENTATION, Image.open) give different pixels"
        ),
    ),
    Code(
        "mode",
        "animated",
        WARNING,
        "an animated or multi-frame image in a classification set: loaders read the first frame only",
    ),
    Code(
        "mask",
        "missing",
        ERROR,
        (
            "a segmentation sample with no mask: a list line without one under --task segmentation, an image in"
            " --images with no mask in --masks"
        ),
    ),
    Code("mask", "lossy", ERROR, "the mask is a JPEG: every class edge gets stray values"),
    Code("mask", "rgb", ERROR, "an RGB mask where an index map is expected (accepted with --palette)"),
    Code("mask", "unmapped_colour", ERROR, "RGB colours the palette does not map, with pixel counts"),
    Code("mask", "not_single_channel", ERROR, "a multi-channel mask"),
    Code("mask", "not_integer", ERROR, "a float mask: class indices must be integers"),
    Code("mask", "not_an_index_map", ERROR, "more than 65,536 distinct values: not a class-index map"),
    Code("mask", "size_mismatch", ERROR, "mask height/width differ from the image's"),
    Code(
        "mask",
        "out_of_range",
        ERROR,
        "pixels neither a class nor the ignore label; names each value with its pixel count",
    ),
    Code(
        "mask",
        "all_ignored",
        ERROR,
        "every pixel is the ignore label: under valid the loss is 0/0 = NaN; otherwise the sample trains nothing",
        also=WARNING,
        when="--normalization other than valid",
    ),
    Code("mask", "binary_255", WARNING, "a 0/255 mask with --num-classes 2: the foreground is ignored or out of range"),
    Code(
        "mask",
        "rare_value",
        WARNING,
        (
            "class values that never form a region in any mask of the dataset (bilinear resizing, JPEG): see"
            " docs/segmentation.md"
        ),
        scope="dataset",
    ),
    Code("mask", "corrupt_data", ERROR, "an undecodable mask"),
    Code("mask", "unidentified", ERROR, "Pillow cannot open the mask"),
    Code("mask", "empty", ERROR, "a zero-byte mask, or an empty .npy mask"),
    Code(
        "mask", "decompression_bomb", ERROR, "the mask declares more than --max-pixels pixels; refused before decoding"
    ),
    Code("mask", "too_large", ERROR, "a mask over --max-file-bytes"),
    Code("mask", "unreadable", ERROR, "the mask cannot be read (an OS error)"),
    Code("mask", "not_an_image", ERROR, "the mask's content is not an image (an HTML page, an archive, ...)"),
    Code("mask", "pickled_object", ERROR, "a pickled .npy mask: refused, never unpickled"),
    Code("mask", "unsupported_dtype", ERROR, "a .npy mask whose dtype is not numeric"),
    Code(
        "probe",
        "nonfinite_loss",
        ERROR,
        "the probe's logits, loss or first-step gradient norm are not finite (segmentation: the per-pixel loss)",
    ),
    Code("probe", "unusable_input", ERROR, "the decoded sample cannot be turned into a probe input"),
    Code(
        "probe",
        "softmax_saturation",
        WARNING,
        (
            "a naive float32 softmax gives 87.3365 for this sample where the stable loss is finite: the sample behind"
            " a stuck Caffe loss"
        ),
    ),
    Code(
        "probe",
        "scale_outlier",
        WARNING,
        (
            "the sample's input magnitude is far (16x and 5 robust deviations) off the dataset's median: a 16-bit"
            " image among 8-bit ones, a [0,255] float image among [0,1] ones"
        ),
        scope="dataset",
    ),
    Code("container", "unreadable", ERROR, "the LMDB or tar shard holding the sample cannot be opened or read"),
    Code(
        "container",
        "corrupt_shard",
        ERROR,
        "a truncated or corrupt tar shard (reported on the shard; the samples before the damage are still checked)",
    ),
    Code("container", "no_image", ERROR, "a WebDataset sample with no image member (jpg, png, webp, ...)"),
    Code("container", "missing_record", ERROR, "the LMDB record listed is gone when read (the database changed)"),
    Code("container", "not_a_datum", ERROR, "an LMDB record that does not parse as a Caffe Datum"),
    Code(
        "container",
        "raw_size",
        ERROR,
        "a raw Datum whose data (or float_data) length is not channels x height x width, or whose shape is empty",
    ),
    Code(
        "duplicate",
        "exact",
        WARNING,
        "the same bytes as other entries with the same label (segmentation: the same mask): wasted compute, skewed"
        " class weights",
        scope="dataset",
    ),
    Code(
        "duplicate",
        "label_conflict",
        ERROR,
        "the same bytes as an entry with another label (segmentation: another mask): the net is taught both",
        scope="dataset",
    ),
    Code(
        "duplicate",
        "near_label_conflict",
        WARNING,
        "a near duplicate (perceptual hashes at most 5 bits apart: re-encoded, resized) of an entry with another label",
        scope="dataset",
    ),
    Code(
        "leakage",
        "exact",
        ERROR,
        "the same bytes as a file of a validation set given with --against: the validation score is inflated",
        scope="dataset",
    ),
    Code(
        "leakage",
        "near",
        WARNING,
        "a near duplicate (perceptual hashes at most 5 bits apart) of a file of a validation set (--against)",
        scope="dataset",
    ),
    Code(
        "internal",
        "check_failed",
        ERROR,
        "a check raised an exception on this sample (a bug); the sample fails and the scan goes on",
    ),
    Code(
        "internal",
        "probe_failed",
        ERROR,
        "the probe raised on this sample, even probed alone (a bug, MemoryError); unvetted samples never pass",
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


def select_codes(selectors: Iterable[str] = ()) -> list[Code]:
    """The catalogue's codes named by `CHECK` or `CHECK:CODE` selectors (all of them for none)."""
    chosen = [parse_selector(text, "checks") for text in selectors]
    return [c for c in CATALOGUE if not chosen or any(c.check == ch and code in (None, c.code) for ch, code in chosen)]


def _severity_text(code: Code) -> str:
    return f"{code.severity.value} ({code.when}: {code.also.value})" if code.also else code.severity.value


def render_codes(codes: list[Code]) -> str:
    """The terminal listing: each check with what it is for, then its codes, severities and meanings."""
    lines = []
    for check, purpose in CHECK_DESCRIPTIONS.items():
        rows = [code for code in codes if code.check == check]
        if not rows:
            continue
        lines.append(f"{check}: {purpose}")
        width = max(len(code.name) for code in rows)
        for code in rows:
            scope = ", dataset-wide" if code.scope == "dataset" else ""
            lines.append(f"  {code.name:<{width}}  {_severity_text(code)}{scope}: {code.meaning}")
        lines.append("")
    return "\n".join(lines).rstrip()


def codes_markdown(codes: tuple[Code, ...] = CATALOGUE) -> str:
    """The table of docs/checks.md's Codes section (a test holds the docs to it)."""
    lines = ["| check | code | severity | meaning |", "|---|---|---|---|"]
    for code in codes:
        scope = " (dataset-wide)" if code.scope == "dataset" else ""
        lines.append(f"| {code.check} | `{code.code}` | {_severity_text(code)}{scope} | {code.meaning} |")
    return "\n".join(lines)
