"""Datasets in object storage: fsspec URLs (`s3://bucket/train.txt`, `gs://`, `az://`, ...).

The client lists the dataset (the list file, or the objects under an ImageFolder prefix); the
workers open each object themselves (the client never ships file bytes), so they need the same
credentials: the provider's usual chain (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_ENDPOINT_URL, profiles) and the `--storage-option KEY=VALUE` pairs, which travel with each
task and are never printed or written (an ObjectStore's repr hides their values; the report's
summary does not hold them).

A URL's protocol needs its fsspec implementation, an optional extra: `pip install 'sanitize[s3]'`
(s3fs), `[gcs]` (gcsfs) or `[azure]` (adlfs); without it, a one-line error names the extra.
"""

from __future__ import annotations

import datetime as _dt
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from sanitize.errors import SanitizeError

_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://(.*)$")
#: The optional extra that brings each protocol's fsspec implementation.
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure"}


def is_url(name: str) -> bool:
    """Whether `name` is an object-storage URL (a `file://` URL is a local path)."""
    found = _URL.match(name)
    return found is not None and found.group(1) != "file"


def local_path(name: str) -> str:
    """A `file://` URL as the path it names; anything else as it is."""
    return name.removeprefix("file://")


def normalized(url: str) -> str:
    """`protocol://bucket/key` with `.` and `..` resolved in the key (`..` past the bucket stays: refused later)."""
    found = _URL.match(url)
    if found is None:
        return url
    protocol, rest = found.groups()
    return f"{protocol}://{posixpath.normpath(rest)}"


def parse_options(pairs: tuple[str, ...] | list[str]) -> tuple[tuple[str, str], ...]:
    """`KEY=VALUE` pairs (`--storage-option`), or a SanitizeError naming the bad one (without its value)."""
    options = []
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise SanitizeError(f"--storage-option takes KEY=VALUE, got one without '=' (key {key.strip()!r})")
        options.append((key.strip(), value))
    return tuple(options)


def _value(text: str) -> Any:
    """Storage option values as fsspec expects them: true/false and numbers typed, the rest text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        return text


_FILESYSTEMS: dict[ObjectStore, Any] = {}


@dataclass(frozen=True)
class ObjectStore:
    """How to reach one kind of object storage: its protocol and the fsspec options (which may hold
    credentials: the repr shows their keys only)."""

    protocol: str
    options: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        return f"ObjectStore({self.protocol!r}, options={[key for key, _ in self.options]})"

    def filesystem(self) -> Any:
        """The fsspec filesystem, made once per process (a worker's too)."""
        found = _FILESYSTEMS.get(self)
        if found is None:
            import fsspec

            try:
                found = fsspec.filesystem(self.protocol, **{key: _value(value) for key, value in self.options})
            except ImportError:
                extra = EXTRAS.get(self.protocol, self.protocol)
                raise SanitizeError(
                    f"{self.protocol}:// needs its storage library: pip install 'sanitize[{extra}]'"
                ) from None
            except ValueError as exc:
                raise SanitizeError(f"unknown storage {self.protocol}://: {exc}") from None
            _FILESYSTEMS[self] = found
        return found

    def fresh_filesystem(self) -> Any:
        """The filesystem with its listing cache emptied: what a new scan, audit or batch must see is
        the store as it is now, not as an earlier one in this process (a worker's) listed it."""
        found = self.filesystem()
        found.invalidate_cache()
        return found


def store_of(url: str, options: tuple[tuple[str, str], ...]) -> ObjectStore:
    found = _URL.match(url)
    if found is None:
        raise SanitizeError(f"not an object-storage URL: {url}")
    return ObjectStore(found.group(1), options)


def object_stat(status: dict[str, Any]) -> tuple[int | None, int | None]:
    """An object's (size, last-modified ns) from its status, as a file's stat gives them."""
    size = status.get("size")
    return (int(size), modified_ns(status)) if size is not None else (None, None)


def modified_ns(status: dict[str, Any]) -> int | None:
    """An object's last-modified time in ns, from the fields the fsspec implementations use."""
    for key in ("LastModified", "last_modified", "mtime", "updated", "created"):
        value = status.get(key)
        if isinstance(value, _dt.datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float):
            return int(value * 1e9)
        if isinstance(value, str):
            try:
                return int(_dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
            except ValueError:
                continue
    return None


@dataclass(frozen=True)
class ObjectRoot:
    """A dataset root in object storage, as the checks on the workers get it (PathGuard, load)."""

    url: str
    store: ObjectStore

    def __str__(self) -> str:
        return self.url
