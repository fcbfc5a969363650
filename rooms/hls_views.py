"""HLS files when no nginx is in front (``make run``, tests): the same paths, checks and cache headers
as deploy/nginx/spaces.conf, whose locations answer these URLs in production before Django sees them."""

from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from spaces_project.errors import ServiceError
from spaces_project.refusals import refusal_text

from .audio import hls as files
from .live import hls

CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".mp4": "audio/mp4", ".m4s": "audio/mp4"}
# A playlist changes every segment (1 s): caches may keep it at most that long. Segments and init
# segments never change once written (a takeover writes new names).
PLAYLIST_MAX_AGE_S = 1
IMMUTABLE = "max-age=31536000, immutable"
# A room's playlist before its mixer wrote one (it starts a second or two after the first HLS
# listener comes): a live playlist with no segments, so the player tries again without an error
# (deploy/nginx/spaces.conf answers the same).
NOT_YET = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"


def _file_response(room_id: int, access: str, name: str) -> HttpResponse:
    if not files.FILE_NAME.match(name):
        raise Http404("No such file.")
    data = hls.read_file(room_id, access, name)
    if data is None:
        if name == files.PLAYLIST:
            response = HttpResponse(NOT_YET, content_type=CONTENT_TYPES[".m3u8"])
            response["Cache-Control"] = "no-cache"
            return response
        raise Http404("No such file.")
    suffix = name[name.rindex(".") :]
    response = HttpResponse(data, content_type=CONTENT_TYPES[suffix])
    scope = "public" if access == files.PUBLIC else "private"
    if suffix == ".m3u8":
        response["Cache-Control"] = f"{scope}, max-age={PLAYLIST_MAX_AGE_S}"
    else:
        response["Cache-Control"] = f"{scope}, {IMMUTABLE}"
    return response


@require_http_methods(["GET", "HEAD"])
def hls_public(request, room_id: int, name: str):
    """A public room's playlist or segment: anyone may fetch it, any cache may keep it."""
    return _file_response(room_id, files.PUBLIC, name)


@require_http_methods(["GET", "HEAD"])
@refusal_text
def hls_signed(request, expires: str, md5: str, listener: str, room_id: str, name: str):
    """A private room's playlist or segment, through a URL signed for one listener that expires
    (nginx's secure_link)."""
    room_id, expires = int(room_id), int(expires)
    verdict = files.check_signature(
        room_id=room_id, listener=listener, expires=expires, md5=md5, secret=hls.hls_secret()
    )
    if verdict == "invalid":
        raise ServiceError("not_allowed", _("This link is not valid."))
    if verdict == "expired":
        raise ServiceError("expired", _("This link has expired."))
    return _file_response(room_id, files.PRIVATE, name)
