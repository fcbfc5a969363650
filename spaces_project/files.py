"""Serve a file with HTTP Range support (RFC 9110 section 14), or hand it to the web server: replays,
clips and podcast episodes (recordings), a person's data archive (accounts).

Only single ranges are honoured; a request for several gets the whole file (a server may ignore
Range), as does a Range header that does not parse. A range that starts past the end is answered 416.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """Return (first, last) byte positions, None to send the whole file, or "unsatisfiable"."""
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = int(last) if last else size - 1
    if end < start:
        return None
    return start, min(end, size - 1)


def _chunks(path: Path, start: int, length: int):
    with open(path, "rb") as handle:
        handle.seek(start)
        while length > 0:
            data = handle.read(min(CHUNK, length))
            if not data:
                return
            length -= len(data)
            yield data


async def _async_chunks(path: Path, start: int, length: int):
    for data in _chunks(path, start, length):
        yield data


def serve_file(
    request: HttpRequest,
    path: Path,
    *,
    content_type: str,
    attachment_name: str | None = None,
) -> HttpResponse:
    """Answer GET/HEAD for ``path``, a file under MEDIA_ROOT, honouring Range; through
    X-Accel-Redirect / X-Sendfile when settings.RECORDINGS_SENDFILE asks for it. The caller has
    already checked permission. X-Accel-Redirect names the file's path under MEDIA_ROOT, which
    deploy/'s internal location (RECORDINGS_ACCEL_PREFIX) aliases whole."""
    disposition = f'attachment; filename="{attachment_name}"' if attachment_name else "inline"
    mode = settings.RECORDINGS_SENDFILE.lower()
    if mode in ("x-accel-redirect", "x-sendfile"):
        response = HttpResponse(content_type=content_type)
        if mode == "x-accel-redirect":
            relative = Path(path).resolve().relative_to(Path(settings.MEDIA_ROOT).resolve())
            response["X-Accel-Redirect"] = (
                settings.RECORDINGS_ACCEL_PREFIX.rstrip("/") + "/" + relative.as_posix()
            )
        else:
            response["X-Sendfile"] = str(path)
        response["Content-Disposition"] = disposition
        response["Cache-Control"] = "private, no-store"
        return response

    size = path.stat().st_size
    wanted = parse_range(request.headers.get("Range", ""), size) if "Range" in request.headers else None
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    start, end = wanted if wanted else (0, size - 1)
    length = max(0, end - start + 1)
    if request.method == "HEAD":
        response = HttpResponse(content_type=content_type, status=206 if wanted else 200)
    else:
        body = (
            _async_chunks(path, start, length)
            if isinstance(request, ASGIRequest)
            else _chunks(path, start, length)
        )
        response = StreamingHttpResponse(body, content_type=content_type, status=206 if wanted else 200)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Disposition"] = disposition
    # Every request checks permission: nothing on the way may keep a copy for someone else.
    response["Cache-Control"] = "private, no-store"
    return response


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` under a temporary name and rename it into place: a reader (or a task killed
    half-way and run again) only ever sees a complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
