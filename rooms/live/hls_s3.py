"""A room's HLS in object storage (HLS_STORAGE=s3): the mixer's writer hands its files to an
``S3HlsStore``, whose own thread uploads them in order, so the 20 ms clock never waits on the network.

Order is the guarantee (docs/hls.md, "In object storage"): one thread per room PUTs each segment,
and only once that PUT succeeded the playlist that names it; a playlist naming anything the thread
has not stored (a segment dropped or failed) is held back until that segment left the window. The
queue is bounded: a store slower than the clock drops playlist updates first (a newer one replaces
any that waits) and then whole segments, never the clock. Deleted objects are those the writer
(rooms/audio/hls.py) says left the playlist a window ago.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from ..audio import hls

logger = logging.getLogger(__name__)

IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".mp4": "audio/mp4", ".m4s": "audio/mp4"}
# Work waiting for the upload thread, beyond which new segments are dropped: a few seconds of them
# (a store that stays this far behind has lost the listeners anyway; the clock goes on).
QUEUE_LIMIT = 8
# Upload timings kept for the benchmark (the last few minutes' worth).
TIMINGS_KEPT = 600
_NAMED = re.compile(r'^(?:#EXT-X-MAP:URI="([^"]+)"|([^#].*))$')


def playlist_cache_control(segment_seconds: int) -> str:
    """A playlist object is fresh for at most half a segment (whole seconds: 0 for 1 s segments), so
    a CDN in front never hands out a playlist a whole segment behind."""
    return f"public, max-age={int(segment_seconds) // 2}"


def edge_read_policy(*, bucket: str, prefix: str, source_ips: list[str]) -> dict:
    """A bucket policy letting the edge (nginx, from `source_ips`) read (and list) the HLS objects
    under `prefix` without credentials, and nobody else: nginx cannot sign S3 requests, and private rooms'
    signatures are checked by nginx before it asks (docs/hls.md, "In object storage"). Apply it with
    ``aws s3api put-bucket-policy`` (or MinIO's ``mc anonymous set-json``); the rest of the bucket
    stays private."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SpacesHlsEdgeRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
                "Condition": {"IpAddress": {"aws:SourceIp": list(source_ips)}},
            },
            {
                # So that a file not there is a 404 (a playlist not uploaded yet: the live playlist
                # with no segments), not the 403 S3 gives readers that may not list.
                "Sid": "SpacesHlsEdgeList",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {
                    "IpAddress": {"aws:SourceIp": list(source_ips)},
                    "StringLike": {"s3:prefix": f"{prefix}*"},
                },
            },
        ],
    }


def client():
    """The process's S3 client for HLS (boto3's clients are thread-safe): the S3_* settings."""
    return make_client(
        settings.S3_ENDPOINT_URL or None,
        settings.S3_REGION,
        settings.S3_ACCESS_KEY_ID or None,
        settings.S3_SECRET_ACCESS_KEY or None,
    )


@functools.cache
def make_client(endpoint: str | None, region: str, access_key: str | None, secret_key: str | None):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            # Self-hosted stores (MinIO, Garage, Ceph) answer at one host, the bucket in the path.
            s3={"addressing_style": "path"} if endpoint else None,
            signature_version="s3v4",
            # A segment a second: a PUT that hangs must fail soon, the next segment is coming.
            connect_timeout=2,
            read_timeout=4,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=50,
        ),
    )


def room_prefix(room_id: int, access: str) -> str:
    """``<HLS_S3_PREFIX><public|private>/<room>/``: the same layout as under HLS_ROOT."""
    if access not in (hls.PUBLIC, hls.PRIVATE):
        raise ValueError(f"unknown access {access!r}")
    return f"{settings.HLS_S3_PREFIX}{access}/{int(room_id)}/"


def list_keys(s3, bucket: str, prefix: str) -> list[dict]:
    found: list[dict] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found.extend(page.get("Contents", []))
    return found


def delete_keys(s3, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def playlist_exists(room_id: int, access: str) -> bool:
    try:
        client().head_object(Bucket=settings.HLS_S3_BUCKET, Key=room_prefix(room_id, access) + hls.PLAYLIST)
    except ClientError:
        return False
    return True


def read(room_id: int, access: str, name: str) -> bytes | None:
    try:
        answer = client().get_object(Bucket=settings.HLS_S3_BUCKET, Key=room_prefix(room_id, access) + name)
    except ClientError:
        return None
    return answer["Body"].read()


def room_prefixes() -> list[tuple[int, str, str]]:
    """Every room's prefix in the bucket as (room id, access, prefix)."""
    s3, found = client(), []
    for access in (hls.PUBLIC, hls.PRIVATE):
        base = f"{settings.HLS_S3_PREFIX}{access}/"
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=settings.HLS_S3_BUCKET, Prefix=base, Delimiter="/"
        )
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(base) :].rstrip("/")
                if name.isdigit():
                    found.append((int(name), access, common["Prefix"]))
    return found


def newest_change(prefix: str) -> float | None:
    """When anything under `prefix` last changed (Unix seconds), or None when nothing is there."""
    keys = list_keys(client(), settings.HLS_S3_BUCKET, prefix)
    return max((item["LastModified"].timestamp() for item in keys), default=None)


def remove_prefix(prefix: str) -> None:
    remove_prefix_with(client(), settings.HLS_S3_BUCKET, prefix)


@dataclass
class Timing:
    """One segment's way into the bucket, in milliseconds from when the writer handed it over."""

    segment: str
    segment_stored_ms: float
    playlist_stored_ms: float | None  # None: a newer playlist replaced it, or it was held back


class S3HlsStore:
    """``rooms.audio.hls.HlsStore`` over one room's prefix of a bucket. Build it off the clock (it
    reads the room's playlist and lists its objects: a takeover continues them); every method the
    writer calls afterwards only queues work for the store's thread."""

    def __init__(
        self,
        *,
        s3,
        bucket: str,
        prefix: str,
        segment_seconds: int,
        limit: int = QUEUE_LIMIT,
        grace_s: float | None = None,
    ) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix
        # A file stays this long after the last playlist in the bucket that named it (a player that
        # read that playlist still finds it): a window of segments, RFC 8216 6.2.2.
        self.grace_s = hls.WINDOW * segment_seconds if grace_s is None else grace_s
        self._last_named: dict[str, float] = {}
        self._doomed: set[str] = set()
        self.playlist_headers = {
            "ContentType": CONTENT_TYPES[".m3u8"],
            "CacheControl": playlist_cache_control(segment_seconds),
        }
        self.limit = limit
        self._existing = [item["Key"][len(prefix) :] for item in list_keys(s3, bucket, prefix)]
        self._stored = set(self._existing)
        self._playlist_text = self._get(hls.PLAYLIST)
        self._jobs: deque[tuple] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self.timings: deque[Timing] = deque(maxlen=TIMINGS_KEPT)
        self.dropped_segments = 0
        self.held_playlists = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name=f"hls-s3 {prefix}", daemon=True)
        self._thread.start()

    # -- the writer's side: called on the mixer's clock, never waits ----------------------------

    def read_playlist(self) -> str | None:
        return self._playlist_text

    def names(self) -> list[str]:
        return list(self._existing)

    def put(self, name: str, data: bytes) -> None:
        self._queue(("put", name, data, time.monotonic()), force=True)

    def publish(self, name: str, data: bytes, playlist: str) -> None:
        if not self._queue(("publish", name, data, playlist, time.monotonic())):
            self.dropped_segments += 1
            logger.warning("HLS upload queue full for %s: segment %s dropped", self.prefix, name)

    def delete(self, names: list[str]) -> None:
        self._queue(("delete", names), force=True)

    def close(self, *, remove: bool = False) -> None:
        self._queue(("close", remove), force=True)

    def _queue(self, job: tuple, *, force: bool = False) -> bool:
        with self._wake:
            if self._closed:
                return False
            if job[0] == "close":
                self._closed = True
            elif not force and len(self._jobs) >= self.limit:
                return False
            self._jobs.append(job)
            self._wake.notify()
        return True

    def join(self, timeout: float | None = None) -> None:
        """Wait until the thread did everything queued before close (tests, benchmarks)."""
        self._thread.join(timeout)

    # -- the store's thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._jobs:
                    self._wake.wait()
                job = self._jobs.popleft()
                # A newer playlist is already waiting: this one would be stale the moment it landed.
                superseded = job[0] == "publish" and any(other[0] == "publish" for other in self._jobs)
            try:
                if job[0] == "close":
                    if job[1]:
                        remove_prefix_with(self.s3, self.bucket, self.prefix)
                    return
                self._do(job, superseded=superseded)
            except (BotoCoreError, ClientError):
                self.failures += 1
                logger.exception("HLS upload to %s failed (%s)", self.prefix, job[0])

    def _do(self, job: tuple, *, superseded: bool) -> None:
        kind = job[0]
        if kind == "put":
            _, name, data, _queued = job
            self._put(name, data, cache_control=IMMUTABLE)
        elif kind == "publish":
            _, name, data, playlist, queued = job
            self._put(name, data, cache_control=IMMUTABLE)
            stored_ms = (time.monotonic() - queued) * 1000
            playlist_ms = None
            if superseded:
                pass  # the newer playlist, next in the queue, names this segment too
            elif (named := self._names_in(playlist)) <= self._stored:
                # Named from the moment it is sent: a PUT that timed out may still have landed.
                self._last_named.update(dict.fromkeys(named, time.monotonic()))
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=self.prefix + hls.PLAYLIST,
                    Body=playlist.encode(),
                    **self.playlist_headers,
                )
                playlist_ms = (time.monotonic() - queued) * 1000
            else:
                self.held_playlists += 1
            self.timings.append(Timing(name, stored_ms, playlist_ms))
        elif kind == "delete":
            self._delete(job[1])

    def _delete(self, names: list[str]) -> None:
        """Delete what the writer let go, except what the playlist in the bucket named less than
        `grace_s` ago: when playlists were held back (a slow store), the one listeners read may still
        name files the writer's own playlist left long ago. Those go at a later deletion."""
        self._doomed.update(names)
        now = time.monotonic()
        ready = sorted(
            name for name in self._doomed if now - self._last_named.get(name, -1e18) >= self.grace_s
        )
        if ready:
            delete_keys(self.s3, self.bucket, [self.prefix + name for name in ready])
            self._doomed.difference_update(ready)
            self._stored.difference_update(ready)
            for name in ready:
                self._last_named.pop(name, None)

    def _put(self, name: str, data: bytes, *, cache_control: str) -> None:
        suffix = name[name.rindex(".") :]
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.prefix + name,
            Body=data,
            ContentType=CONTENT_TYPES[suffix],
            CacheControl=cache_control,
        )
        self._stored.add(name)

    def _get(self, name: str) -> str | None:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except ClientError:
            return None
        return answer["Body"].read().decode("utf-8", "replace")

    @staticmethod
    def _names_in(playlist: str) -> set[str]:
        names = set()
        for line in playlist.splitlines():
            match = _NAMED.match(line.strip())
            if match:
                names.add(match.group(1) or match.group(2))
        return names


def remove_prefix_with(s3, bucket: str, prefix: str) -> None:
    delete_keys(s3, bucket, [item["Key"] for item in list_keys(s3, bucket, prefix)])


def open_store(room_id: int, access: str, *, window: int = hls.WINDOW) -> S3HlsStore:
    """The room's store in HLS_S3_BUCKET. Call off the mixer's clock (it lists and reads the bucket)."""
    return S3HlsStore(
        s3=client(),
        bucket=settings.HLS_S3_BUCKET,
        prefix=room_prefix(room_id, access),
        segment_seconds=int(settings.HLS_SEGMENT_SECONDS),
        grace_s=window * int(settings.HLS_SEGMENT_SECONDS),
    )
