"""Media files through Django's storage API, on local disk (MEDIA_STORAGE=local, the default) or in
S3-compatible object storage (MEDIA_STORAGE=s3; docs/production.md, "Media in object storage").

Every file has a *name*, its path under MEDIA_ROOT and its key in the bucket alike
(``recordings/12/replay.m4a``). The code that makes or reads media goes through these functions, so
the same service runs on one machine with a disk or on several that share only the bucket:

- ``fetched(name)`` / ``fetched_tree(prefix)``: a local path to read (on disk: the file itself; in
  the bucket: a temporary copy, removed when the block ends).
- ``workspace(prefix)`` then ``store(workspace, prefix, names)``: where to write files, then keep
  them (on disk: written in place, as before; in the bucket: written in a temporary directory, then
  uploaded, multipart when large, and the directory removed).
- ``serve(request, name, ...)``: a private file after the caller checked permission (on disk:
  Range or X-Accel-Redirect, spaces_project/files.py; in the bucket: 302 to a presigned URL valid
  for S3_PRESIGN_SECONDS, which answers Range itself).

Public files (avatars) use the storage ``public_storage()`` returns, whose URLs a CDN can cache.
"""

from __future__ import annotations

import email.utils
import math
import mimetypes
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import Storage, default_storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.functional import LazyObject, empty

from .files import serve_file, write_atomic


class _PublicStorage(LazyObject):
    """STORAGES["public"], looked up when first used (and again after the tests change STORAGES)."""

    def _setup(self) -> None:
        self._wrapped = storages["public"]


_public = _PublicStorage()


def public_storage() -> Storage:
    """The storage of files anyone may fetch (avatars): MEDIA_ROOT on disk, served at MEDIA_URL, or
    the bucket with plain URLs under S3_PUBLIC_URL. A callable, so models name it in migrations."""
    return _public


@receiver(setting_changed)
def _storages_changed(*, setting, **kwargs) -> None:
    if setting == "STORAGES":
        _public._wrapped = empty


def is_local() -> bool:
    return settings.MEDIA_STORAGE == "local"


def _check(name: str) -> str:
    """A media name is relative and never climbs out of its tree."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"not a media name: {name!r}")
    return name


def tree(top: str) -> str:
    """The prefix of one top-level tree of media (``tree("recordings")`` is "recordings/"). Every
    tree the code writes is named through this, so deploy/smoke/ finds them all in the source and
    checks that none is public on disk."""
    if not top or "/" in top or top.startswith("."):
        raise ValueError(f"not a top-level media tree: {top!r}")
    return top + "/"


def local_path(name: str) -> Path:
    """Where ``name`` is on disk in local mode."""
    return Path(settings.MEDIA_ROOT) / _check(name)


def _prefix(prefix: str) -> str:
    return _check(prefix).rstrip("/") + "/"


_client_lock = threading.Lock()
# Files this large go up in parts (boto3's managed transfer); smaller ones in one PUT, which costs
# a mixer uploading a capture segment every second much less.
MULTIPART_FROM = 8 * 1024 * 1024


def _client():
    """One boto3 client per process for the bucket (boto3 clients are thread-safe; django-storages
    builds a session per thread, and building one holds the GIL for a long while: a mixer, whose
    room lease lives 500 ms, must not pay that on a worker thread mid-room). ``warm_up`` builds it
    before the process takes work."""
    storage = storages["default"]
    client = getattr(storage, "_spaces_client", None)
    if client is None:
        with _client_lock:
            client = getattr(storage, "_spaces_client", None)
            if client is None:
                client = storage.connection.meta.client
                storage._spaces_client = client
    return client


def warm_up() -> None:
    """Build the store's client now (a process about to take live work calls this)."""
    if not is_local():
        _client()


def _bucket_name() -> str:
    return storages["default"].bucket_name


def _key(name: str) -> str:
    return storages["default"]._normalize_name(_check(name))


# -- reading --------------------------------------------------------------------------------------------


def _head(name: str) -> dict | None:
    try:
        return _client().head_object(Bucket=_bucket_name(), Key=_key(name))
    except Exception as error:
        if _is_missing(error):
            return None
        raise


def exists(name: str) -> bool:
    if is_local():
        return local_path(name).is_file()
    return _head(name) is not None


def size(name: str) -> int:
    if is_local():
        return local_path(name).stat().st_size
    answer = _head(name)
    if answer is None:
        raise FileNotFoundError(name)
    return answer["ContentLength"]


def read_bytes(name: str) -> bytes:
    if is_local():
        return local_path(name).read_bytes()
    return _client().get_object(Bucket=_bucket_name(), Key=_key(name))["Body"].read()


@dataclass(frozen=True)
class StoredObject:
    name: str
    size: int
    modified: float  # seconds since the epoch, by the store's clock


def objects(prefix: str) -> list[StoredObject]:
    """The files directly under ``prefix``, by name."""
    prefix = _prefix(prefix)
    found = []
    if is_local():
        directory = local_path(prefix)
        if directory.is_dir():
            for entry in directory.iterdir():
                if entry.is_file():
                    stat = entry.stat()
                    found.append(StoredObject(prefix + entry.name, stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda item: item.name)
    key_prefix = _key(prefix).rstrip("/") + "/"
    location = len(key_prefix) - len(prefix)  # the storage's own location before our names
    pages = (
        _client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=_bucket_name(), Prefix=key_prefix, Delimiter="/")
    )
    for page in pages:
        for item in page.get("Contents", []):
            found.append(StoredObject(item["Key"][location:], item["Size"], item["LastModified"].timestamp()))
    return sorted(found, key=lambda item: item.name)


def age_s(name: str) -> float:
    """Seconds since ``name`` last changed, by the store's own clock (a bucket's clock, read from
    its answer, so a worker whose clock is off does not misjudge it)."""
    if is_local():
        return time.time() - local_path(name).stat().st_mtime
    answer = _client().head_object(Bucket=_bucket_name(), Key=_key(name))
    now = email.utils.parsedate_to_datetime(answer["ResponseMetadata"]["HTTPHeaders"]["date"])
    return (now - answer["LastModified"]).total_seconds()


def read_tail(name: str, length: int) -> bytes:
    """The last ``length`` bytes of ``name`` (a ranged GET in the bucket)."""
    if is_local():
        with open(local_path(name), "rb") as handle:
            end = handle.seek(0, 2)
            handle.seek(max(0, end - length))
            return handle.read()
    answer = _client().get_object(Bucket=_bucket_name(), Key=_key(name), Range=f"bytes=-{length}")
    return answer["Body"].read()


def _temp_directory(label: str) -> Path:
    # Never under MEDIA_ROOT: a node with no media disk writes only temporary files.
    return Path(tempfile.mkdtemp(prefix=f"spaces-{label}-"))


@contextmanager
def fetched(name: str) -> Iterator[Path]:
    """A local path holding ``name``'s bytes for the block (FileNotFoundError if there is none)."""
    if is_local():
        path = local_path(name)
        if not path.is_file():
            raise FileNotFoundError(name)
        yield path
        return
    directory = _temp_directory("fetch")
    try:
        path = directory / PurePosixPath(name).name
        try:
            _client().download_file(_bucket_name(), _key(name), str(path))
        except Exception as error:
            if _is_missing(error):
                raise FileNotFoundError(name) from None
            raise
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _is_missing(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")


@contextmanager
def fetched_tree(prefix: str) -> Iterator[Path]:
    """A local directory holding the files directly under ``prefix`` for the block (on disk: the
    directory itself, which may not exist)."""
    if is_local():
        yield local_path(prefix)
        return
    directory = _temp_directory("tree")
    try:
        for item in objects(prefix):
            _client().download_file(
                _bucket_name(), _key(item.name), str(directory / PurePosixPath(item.name).name)
            )
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- writing --------------------------------------------------------------------------------------------


@contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    """A directory to write the files of ``prefix`` in; ``store`` keeps them. On disk it is the
    directory itself (files are renamed into place there, as finalize.py does); for the bucket a
    temporary directory, removed when the block ends whatever happens."""
    if is_local():
        directory = local_path(prefix)
        directory.mkdir(parents=True, exist_ok=True)
        yield directory
        return
    directory = _temp_directory("work")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def store(directory: Path, prefix: str, names: list[str]) -> None:
    """Keep the files ``names`` written in ``directory`` (from ``workspace(prefix)``) under ``prefix``."""
    if is_local():
        return
    for name in names:
        upload(directory / name, _prefix(prefix) + name)


def upload(path: Path, name: str) -> None:
    """Put the local file ``path`` at ``name``: in the bucket one object, written whole (multipart
    when large, by boto3's managed transfer), so a reader never sees part of it."""
    if is_local():
        target = local_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target.with_name(f".{target.name}.upload.tmp"))
        target.with_name(f".{target.name}.upload.tmp").replace(target)
        return
    if path.stat().st_size < MULTIPART_FROM:
        with open(path, "rb") as handle:
            _client().put_object(Bucket=_bucket_name(), Key=_key(name), Body=handle, **_put_parameters(name))
        return
    _client().upload_file(str(path), _bucket_name(), _key(name), ExtraArgs=_put_parameters(name))


def _put_parameters(name: str) -> dict:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return {"ContentType": content_type}


def save_bytes(name: str, data: bytes) -> None:
    """Write ``data`` at ``name``, replacing what was there; a reader only ever sees a whole file."""
    if is_local():
        write_atomic(local_path(name), data)
        return
    _client().put_object(Bucket=_bucket_name(), Key=_key(name), Body=data, **_put_parameters(name))


def delete(name: str) -> None:
    if is_local():
        local_path(name).unlink(missing_ok=True)
        return
    _client().delete_object(Bucket=_bucket_name(), Key=_key(name))


def delete_tree(prefix: str) -> None:
    """Remove every file under ``prefix`` (its subdirectories too)."""
    if is_local():
        shutil.rmtree(local_path(prefix), ignore_errors=True)
        return
    client, bucket = _client(), _bucket_name()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=_key(_prefix(prefix))):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:  # at most 1,000 a page, as DeleteObjects takes
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def origins() -> list[str]:
    """Where the browser fetches media from besides this site (for the Content-Security-Policy):
    the bucket's origin (presigned URLs) and S3_PUBLIC_URL's (avatars through a CDN)."""
    if is_local():
        return []
    private = storages["default"]
    found = getattr(private, "_spaces_origins", None)  # asked for every page: worked out once
    if found is None:
        found = []
        for storage in (private, _public):
            url = urlsplit(storage.url("origin-probe"))
            origin = f"{url.scheme}://{url.netloc}"
            if url.scheme in ("http", "https") and origin not in found:
                found.append(origin)
        private._spaces_origins = found
    return list(found)


# -- serving --------------------------------------------------------------------------------------------


def serve(
    request: HttpRequest,
    name: str,
    *,
    content_type: str,
    attachment_name: str | None = None,
    plays_s: float = 0,
) -> HttpResponse:
    """Answer GET/HEAD for the private file ``name``; the caller has checked permission.

    On disk: spaces_project/files.py (Range, or X-Accel-Redirect / X-Sendfile). In the bucket: a 302
    to a presigned URL that lives S3_PRESIGN_SECONDS and names the type and disposition the bucket
    answers with; the store answers Range itself, so a player seeks as it does on disk. Audio that
    plays for ``plays_s`` gets a URL that lasts that much longer: a player keeps the redirected URL
    and asks it for later ranges as it plays and seeks, and one listening must not end in a 403.
    """
    if is_local():
        return serve_file(
            request, local_path(name), content_type=content_type, attachment_name=attachment_name
        )
    disposition = f'attachment; filename="{attachment_name}"' if attachment_name else "inline"
    url = default_storage.url(
        _check(name),
        parameters={
            "ResponseContentType": content_type,
            "ResponseContentDisposition": disposition,
            "ResponseCacheControl": "private, no-store",
        },
        expire=settings.S3_PRESIGN_SECONDS + math.ceil(plays_s),
    )
    response = HttpResponseRedirect(url)
    # The redirect carries a signature: nothing on the way may keep it for someone else.
    response["Cache-Control"] = "private, no-store"
    return response
