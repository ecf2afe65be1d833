"""WebDataset tar shards: `shards/train-{000000..000099}.tar` (brace expansion as WebDataset writes
it), a glob, a folder of `.tar` files, or one `.tar`; locally or in object storage.

A sample is the run of members sharing a key, WebDataset's rule: the key is a member's path up to
the first dot of its base name, the rest its extension (`n01/x.jpg`, `n01/x.cls`: key `n01/x`).
Its image is the member whose extension is an image's (jpg, png, webp, ...); its label the text of
the `cls` member (or `--label-member NAME`, e.g. `json` with `--label-field`). A finding's path is
`shard.tar/key`.

Why the client lists members (not just shards): the report, clean.txt and quarantine are about
samples, each listed once by the client, and a tar read for its headers only is cheap. An
uncompressed tar puts a 512-byte header before each member's data, so the listing reads the
headers and *seeks past* the data (tarfile in seekable mode), plus the small label member, which
sits in the same block. Measured on a local 10,000-sample shard set (tests/test_containers.py:
the figures are in docs/inputs.md), listing costs a small fraction of the scan. Each sample then
carries its image member's offset and size (model.Member), so a worker reads just those bytes,
in shard order, without parsing the tar again; from object storage each is one ranged GET.

A shard that is not a tar, or whose headers stop making sense (a truncated download, bytes
overwritten), becomes a `container:corrupt_shard` finding on the shard itself (path `shard.tar`);
the samples listed before the damage, and every other shard, are still checked.
Compressed shards (`.tar.gz`) are not supported: they cannot be read by offset.
"""

from __future__ import annotations

import glob
import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sanitize.datasets import Dataset
from sanitize.errors import SanitizeError
from sanitize.model import Member, Sample
from sanitize.remote import ObjectStore, normalized

#: Extensions of image members, WebDataset's image decoders' (webdataset/autodecode.py IMAGE_EXTENSIONS).
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "ppm", "pgm", "pbm", "pnm", "bmp", "gif", "tif", "tiff")
#: A label member larger than this is no class label: it is not read, and its label is flagged.
MAX_LABEL_BYTES = 4096
_BRACES = re.compile(r"\{([^{}]*)\}")
_BLOCK = 512


def is_pattern(name: str) -> bool:
    return any(char in name for char in "{*?[")


def expand_braces(pattern: str) -> list[str]:
    """`a-{000..002}.tar` -> a-000.tar, a-001.tar, a-002.tar (zero padding kept, as the braceexpand
    package WebDataset uses does); `{a,b}` lists alternatives; several groups multiply."""
    found = _BRACES.search(pattern)
    if found is None:
        return [pattern]
    body = found.group(1)
    numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if numeric:
        first, last = numeric.groups()
        width = len(first) if first.startswith("0") or len(first) == len(last) else 0
        step = 1 if int(last) >= int(first) else -1
        choices = [str(n).zfill(width) for n in range(int(first), int(last) + step, step)]
    else:
        choices = body.split(",")
    head, tail = pattern[: found.start()], pattern[found.end() :]
    return [name for choice in choices for name in expand_braces(head + choice + tail)]


def split_key(name: str) -> tuple[str, str]:
    """(key, extension) of a member name, by WebDataset's rule (the first dot of the base name)."""
    folder, _, base = name.rpartition("/")
    stem, dot, extension = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), extension.lower() if dot else ""


def _parse_label(data: bytes, member: str, field: str | None) -> str:
    """A label member's text as the label check judges it (a JSON member's `field`)."""
    text = data.decode("utf-8", errors="replace").strip()
    if field is None:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return f"<{member}: not JSON>"
    if not isinstance(value, dict) or field not in value:
        return f"<{member}: no field {field!r}>"
    return str(value[field]).strip()


class _Lister:
    """The samples of shards, one shard at a time: nothing but the current sample's members is held."""

    def __init__(self, root: str, label_member: str, label_field: str | None, store: ObjectStore | None) -> None:
        self.root, self.label_member, self.label_field, self.store = root, label_member, label_field, store

    def _open(self, shard: str) -> IO[bytes]:
        return self.store.filesystem().open(shard, "rb") if self.store else open(shard, "rb")

    def samples(self, shard: str, index: int) -> Iterator[Sample]:
        shard_path = shard[len(self.root) + 1 :]
        key, parts, label = None, [], None
        try:
            with self._open(shard) as handle, tarfile.open(fileobj=handle, mode="r:") as tar:
                while (info := tar.next()) is not None:
                    tar.members.clear()  # tarfile keeps every header read: a shard's would add up
                    if not info.isfile():
                        continue
                    member_key, extension = split_key(info.name)
                    if member_key != key:
                        if key is not None:
                            yield self._sample(index, shard, shard_path, key, parts, label)
                            index += 1
                        key, parts, label = member_key, [], None
                    parts.append((info.name, extension, info.offset_data, info.size))
                    if extension == self.label_member:
                        label = self._label(handle, info)
                problem = self._end(handle, tar.offset)
        except (tarfile.TarError, OSError, EOFError) as exc:
            problem = f"{type(exc).__name__}: {exc}" if not isinstance(exc, tarfile.ReadError) else str(exc)
        if key is not None:
            yield self._sample(index, shard, shard_path, key, parts, label)
            index += 1
        if problem:
            yield Sample(index, shard_path, shard, None, member=Member("tar", "", problem=("corrupt_shard", problem)))

    def _label(self, handle: IO[bytes], info: tarfile.TarInfo) -> str:
        """The label member's text (it sits in the block after its header: no extra seek on disk)."""
        if info.size > MAX_LABEL_BYTES:
            return f"<{info.name}: {info.size:,} bytes>"
        handle.seek(info.offset_data)
        return _parse_label(handle.read(info.size), info.name, self.label_field)

    @staticmethod
    def _end(handle: IO[bytes], offset: int) -> str | None:
        """Why the archive does not end properly after the last header tarfile read, or None: tarfile
        stops without a word at a bad or truncated header past the first."""
        handle.seek(offset)
        block = handle.read(_BLOCK)
        if len(block) == _BLOCK and not block.strip(b"\0"):
            return None
        if not block:
            return f"the shard ends at byte {offset:,} without an end-of-archive block: truncated"
        if len(block) < _BLOCK:
            return f"the shard ends inside a header at byte {offset:,}: truncated"
        return f"not a tar header at byte {offset:,}: the samples after it are not listed"

    def _sample(self, index: int, shard: str, shard_path: str, key: str, parts: list, label: str | None) -> Sample:
        path = f"{shard_path}/{key}"
        image = next((part for part in parts if part[1] in IMAGE_EXTENSIONS), None)
        if image is None:
            found = ", ".join(part[1] or "(no extension)" for part in parts)
            member = Member("tar", key, problem=("no_image", f"no image member (has: {found})"))
        else:
            member = Member("tar", key, image[0], image[2], image[3])
        return Sample(index, path, shard, label, member=member)


def _shards(source: str, store: ObjectStore | None) -> list[str]:
    """The shard files `source` names: a pattern (braces, then glob), a folder's .tar files, or one .tar."""
    fs = store.fresh_filesystem() if store else None
    protocol = f"{store.protocol}://" if store else ""
    names = []
    for name in expand_braces(source):
        if any(char in name for char in "*?["):
            matched = [f"{protocol}{found}" for found in fs.glob(name)] if fs else glob.glob(name)
            names.extend(sorted(matched))
        elif fs is not None and fs.isdir(name):
            names.extend(sorted(f"{protocol}{found}" for found in fs.glob(f"{name.rstrip('/')}/*.tar")))
        elif fs is None and os.path.isdir(name):
            names.extend(sorted(glob.glob(os.path.join(glob.escape(name), "*.tar"))))
        else:
            names.append(name)
    missing = [name for name in names if not (fs.isfile(name) if fs else os.path.isfile(name))]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SanitizeError(f"shard not found: {missing[0]}{more}")
    if not names:
        raise SanitizeError(f"no .tar shards match {source}")
    return [normalized(name) if store else os.path.abspath(name) for name in names]


def read(source: str, label_member: str, label_field: str | None, store: ObjectStore | None = None) -> Dataset:
    shards = _shards(source, store)
    root = os.path.commonpath([shard.split("://", 1)[-1].rsplit("/", 1)[0] for shard in shards])
    if store:
        root = f"{store.protocol}://{root}"
    lister = _Lister(root, label_member.lower(), label_field, store)

    def listing() -> Iterator[Sample]:
        index = 0
        for shard in shards:
            for sample in lister.samples(shard, index):
                index = sample.index + 1
                yield sample

    if store:
        return Dataset("webdataset", source, root, listing, store=store)
    return Dataset("webdataset", Path(source), Path(root), listing)


def looks_like_shards(source: Path) -> bool:
    """Whether a local `source` is WebDataset shards: a .tar, or a folder of them with no subfolder."""
    if source.is_file():
        return source.suffix.lower() == ".tar"
    if not source.is_dir():
        return False
    entries = list(os.scandir(source))
    return any(e.name.lower().endswith(".tar") for e in entries) and not any(e.is_dir() for e in entries)


__all__ = ["IMAGE_EXTENSIONS", "expand_braces", "is_pattern", "looks_like_shards", "read", "split_key"]
