"""The small data types that carry a sample through the whole pipeline (findings: sanitize.findings).

Everything here is plain, picklable data: it crosses process boundaries inside Dask tasks
and is written to the report as JSON.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple

from sanitize.findings import Finding

if TYPE_CHECKING:  # only in annotations: the model imports no numpy, for a fast start
    import numpy as np


class Member(NamedTuple):
    """Where a sample lies inside a container file (its Sample.file): a record of a Caffe LMDB or
    the members of a WebDataset tar shard sharing a key (see datasets.lmdbfile, datasets.webdataset).

    `key` is the LMDB record key (its bytes as latin-1 text, so any key survives pickling exactly)
    or the WebDataset sample key; `name`, `offset` and `size` place a shard's image member (its
    header already read while listing, so a worker reads its bytes without parsing the tar);
    `problem` is (code, message) of a `container` finding the listing made (a corrupt shard, a
    sample with no image), reported by the worker like any other finding.
    """

    kind: str  # "lmdb" or "tar"
    key: str
    name: str | None = None
    offset: int = -1
    size: int = -1
    problem: tuple[str, str] | None = None


class Sample(NamedTuple):
    """One entry of a dataset, before anything has been read (immutable: a NamedTuple, four
    times cheaper to build than a frozen dataclass, for a dataset may list millions).

    `path` is the entry exactly as the dataset names it (the report's key); `file` is where
    it resolves on disk; `label` is the raw label text (None when the entry has none).
    A segmentation sample names its label map in `mask` (as the dataset names it) and
    `mask_file` (on disk) instead of a label. On-disk names are plain strings: a
    pathlib.Path per sample would cost more than listing the dataset. A sample inside a container
    (an LMDB record, a WebDataset sample) names the container in `file` and itself in `member`.
    """

    index: int
    path: str
    file: str
    label: str | None
    mask: str | None = None
    mask_file: str | None = None
    member: Member | None = None

    @classmethod
    def under(
        cls, root: str | os.PathLike[str], index: int, path: str, label: str | None = None, mask: str | None = None
    ) -> Sample:
        """The sample `path` (and `mask`) names relative to the dataset `root` (an absolute name stays as it is)."""
        root = os.fspath(root)
        return cls(index, path, _join(root, path), label, mask, _join(root, mask) if mask else None)


def _join(root: str, name: str) -> str:
    """os.path.join(root, name) on POSIX, at a third of its cost (it runs once per sample)."""
    if name.startswith("/"):
        return name
    return f"{root}{name}" if root.endswith("/") else f"{root}/{name}"


@dataclass(slots=True)
class ImageInfo:
    """What reading and decoding learnt about a file, recorded in the report.

    `size` and `mtime_ns` are the file's as it was read, so that quarantine can tell a file that
    changed since the scan from the one the scan judged.
    """

    format: str | None = None
    decoder: str | None = None
    mode: str | None = None
    width: int | None = None
    height: int | None = None
    channels: int | None = None
    bit_depth: int | None = None
    frames: int | None = None
    orientation: int | None = None  # a JPEG's EXIF orientation (1-8); None: no tag
    #: How a JPEG was looked at for concealed corruption: "entropy pass" (the compiled decoder's) or
    #: "pixels" (the decoder missing, no C compiler at install, or a file it does not read); None: not.
    concealed: str | None = None
    size: int | None = None
    mtime_ns: int | None = None


@dataclass(slots=True)
class LoadedMask:
    """A segmentation mask after it was read and decoded once, at full resolution.

    `index_map` is the H x W class-index map a loader would hand to the loss (None when the
    file cannot give one); `values` counts its pixels per value, so no check recounts them;
    `regions` are the values that fill at least one pixel together with its 4 neighbours.
    """

    info: ImageInfo
    index_map: np.ndarray | None = None
    values: dict[int, int] = field(default_factory=dict)
    regions: tuple[int, ...] = ()
    digest: int = 0  # of index_map's bytes (load.fingerprint): the same class map, whatever its file


@dataclass(slots=True)
class NonFinite:
    """How many values of a sample's float data were counted, and how many of them were NaN, +Inf
    and -Inf: counted frame by frame as the file is decoded, so no frame is kept for the finite check."""

    values: int = 0
    nan: int = 0
    posinf: int = 0
    neginf: int = 0


@dataclass(slots=True)
class Loaded:
    """A sample after its file was read and decoded once, handed to every check.

    `pixels` is the decoded first frame, as a training loader would convert it (None when
    decoding failed); for a JPEG it is libjpeg-turbo's DCT-downscaled decode (no side under 16
    pixels), which has every value range and channel of the full image but not its size (the
    full size is in `info`); `nonfinite` counts the NaN and Inf values of every frame of float
    data (None: it has none), so the finite check sees all of them without any frame being kept;
    `findings` are what reading and decoding found; `opened` is False when the file was never
    opened (its path was unsafe or missing), so file checks have nothing to say; `digest`
    and `phash` are its bytes' digest and its pixels' perceptual hash (load.fingerprint; 0: none).
    """

    sample: Sample
    info: ImageInfo
    opened: bool = False
    pixels: np.ndarray | None = None
    nonfinite: NonFinite | None = None
    findings: list[Finding] = field(default_factory=list)
    mask: LoadedMask | None = None
    digest: int = 0
    phash: int = 0
    cmyk: bool = False  # a JPEG of 4 components (CMYK or YCCK), whatever it was decoded to


@dataclass(slots=True)
class SampleResult:
    """Everything the scan concluded about one sample: small, so it streams back cheaply."""

    index: int
    path: str
    label: str | None
    findings: list[Finding]
    info: ImageInfo
    label_index: int | None = None
    magnitude: float | None = None
    loss: float | None = None
    mask: str | None = None
    mask_info: ImageInfo | None = None
    mask_values: dict[int, int] | None = None
    mask_regions: tuple[int, ...] = ()
    #: For the duplicate and leakage checks (load.fingerprint; 0: none): the file's bytes, its
    #: pixels' perceptual hash, and its mask's class-index map.
    digest: int = 0
    phash: int = 0
    mask_digest: int = 0

    @property
    def has_error(self) -> bool:
        return any(f.is_error for f in self.findings)

    @property
    def has_warning(self) -> bool:
        return any(not f.is_error for f in self.findings)

    def to_record(self) -> dict[str, Any]:
        """The findings.jsonl line for this sample."""
        record = {
            "path": self.path,
            "label": self.label,
            "findings": [f.to_dict() for f in self.findings],
            "info": _set_fields(self.info),
        }
        if self.mask is not None:
            record["mask"] = self.mask
            record["mask_info"] = _set_fields(self.mask_info) if self.mask_info else {}
        return record


#: ImageInfo's fields, in order: a record is made of each flagged sample as it arrives, and
#: dataclasses.asdict deep-copies every value (nine tenths of the time the whole record took).
_INFO_FIELDS = tuple(f.name for f in fields(ImageInfo))


def _set_fields(info: ImageInfo) -> dict[str, Any]:
    return {k: v for k in _INFO_FIELDS if (v := getattr(info, k)) is not None}


@dataclass
class CleanColumns:
    """Samples without findings and without a mask (most of a classification dataset), as columns:
    what the report and an audit's store need of each, without an object per sample. A task makes
    them for its batch; an audit makes them for the clean results it reuses."""

    indices: np.ndarray  # int64
    class_index: np.ndarray  # int64; -1: no class (the ignore label, or no label)
    labelled: np.ndarray  # bool: the sample has a label text (so class -1 is the ignore label)
    magnitudes: np.ndarray  # float64; NaN: none (the probe was off)
    losses: np.ndarray  # float64; NaN: none
    file_stats: np.ndarray  # (n, 2) int64: size and mtime_ns of the file as checked; -1: unknown
    infos: list[ImageInfo]  # the distinct infos (their size and mtime_ns left out)
    info_index: np.ndarray  # int32: each sample's info in `infos`
    digests: np.ndarray  # int64: the file's digest and its pixels' perceptual hash (0: none)
    phashes: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    @classmethod
    def of(cls, results: list[SampleResult]) -> CleanColumns:
        """Columns of results without findings (a clean result's findings and mask are not kept)."""
        import numpy as np

        infos: dict[tuple, int] = {}
        info_index = []
        for result in results:
            info = result.info
            key = (
                info.format,
                info.decoder,
                info.mode,
                info.width,
                info.height,
                info.channels,
                info.bit_depth,
                info.frames,
                info.orientation,
                info.concealed,
            )
            info_index.append(infos.setdefault(key, len(infos)))
        nan = float("nan")
        return cls(
            indices=np.array([r.index for r in results], dtype=np.int64),
            class_index=np.array([-1 if r.label_index is None else r.label_index for r in results], dtype=np.int64),
            labelled=np.array([r.label is not None for r in results], dtype=bool),
            magnitudes=np.array([nan if r.magnitude is None else r.magnitude for r in results], dtype=np.float64),
            losses=np.array([nan if r.loss is None else r.loss for r in results], dtype=np.float64),
            file_stats=np.array(
                [(_known(r.info.size), _known(r.info.mtime_ns)) for r in results], dtype=np.int64
            ).reshape(-1, 2),
            infos=[ImageInfo(*key) for key in infos],
            info_index=np.array(info_index, dtype=np.int32),
            digests=np.array([r.digest for r in results], dtype=np.int64),
            phashes=np.array([r.phash for r in results], dtype=np.int64),
        )


def _known(value: int | None) -> int:
    return -1 if value is None else value


@dataclass
class BatchResult:
    """What one task concluded about its batch, compact: the clean samples as columns, full results
    only for the samples with findings or a mask, which the report shows one by one."""

    clean: CleanColumns
    flagged: list[SampleResult]

    def __len__(self) -> int:
        return len(self.clean) + len(self.flagged)

    @classmethod
    def of(cls, results: list[SampleResult]) -> BatchResult:
        plain = [r for r in results if not r.findings and r.mask is None]
        return cls(CleanColumns.of(plain), [r for r in results if r.findings or r.mask is not None])
