import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from accounts import services
from accounts.forms import ProfileForm
from spaces_project.errors import ServiceError

from .conftest import csrf_token, png_bytes, sign_in, stored_files

pytestmark = pytest.mark.django_db

CAMERA_MAKE = 0x010F
ARTIST = 0x013B


def png_declaring(width: int, height: int) -> bytes:
    """A small, valid PNG file whose header claims `width` x `height` pixels."""
    raw = png_bytes(size=(1, 1))
    ihdr_start = 8  # after the PNG signature: length(4) type(4) data(13) crc(4)
    length = struct.unpack(">I", raw[ihdr_start : ihdr_start + 4])[0]
    data = bytearray(raw[ihdr_start + 8 : ihdr_start + 8 + length])
    data[0:8] = struct.pack(">II", width, height)
    chunk = b"IHDR" + bytes(data)
    patched = raw[:ihdr_start] + struct.pack(">I", length) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return patched + raw[ihdr_start + 12 + length :]


def test_png_with_exif_becomes_three_square_jpegs_without_exif(user, media_root):
    raw = png_bytes(size=(300, 200), exif={CAMERA_MAKE: "SecretCam", ARTIST: "Jane Secret"})
    assert Image.open(io.BytesIO(raw)).getexif()[CAMERA_MAKE] == "SecretCam"

    services.user_set_avatar(user=user, raw=raw)

    user.refresh_from_db()
    for size in (64, 128, 256):
        field = getattr(user, f"avatar_{size}")
        data = field.read()
        field.close()
        with Image.open(io.BytesIO(data)) as thumbnail:
            assert thumbnail.format == "JPEG"
            assert thumbnail.size == (size, size)
            assert not thumbnail.getexif()
            assert "exif" not in thumbnail.info
        assert b"SecretCam" not in data and b"Jane Secret" not in data
    assert len(stored_files(media_root)) == 3


def test_replacing_an_avatar_deletes_the_old_files(user, media_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.user_set_avatar(user=user, raw=png_bytes(color=(0, 0, 255)))
    first = stored_files(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        services.user_set_avatar(user=user, raw=png_bytes(color=(0, 255, 0)))
    second = stored_files(media_root)

    assert len(second) == 3
    assert not set(first) & set(second)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"hello, I am not a picture\n" * 10, id="text"),
        pytest.param(png_declaring(20_000, 20_000), id="bomb-20000x20000"),
        pytest.param(png_declaring(10_000, 5_000), id="bomb-50-megapixels"),
        pytest.param(png_bytes()[:60], id="truncated-png"),
    ],
)
def test_service_refuses_bad_images_and_saves_nothing(user, media_root, raw):
    with pytest.raises(ServiceError) as error:
        services.user_set_avatar(user=user, raw=raw)
    assert error.value.field == "avatar"
    user.refresh_from_db()
    assert not user.avatar_64 and not user.avatar_256
    assert stored_files(media_root) == []


def _post_profile(client, user, **data):
    sign_in(client, user)
    url = reverse("accounts:profile_edit")
    token = csrf_token(client, url)
    payload = {"display_name": "New Name", "bio": "New bio", "csrfmiddlewaretoken": token, **data}
    return client.post(url, payload)


def test_profile_form_uploads_an_avatar(csrf_client, user, media_root):
    upload = SimpleUploadedFile(
        "me.png", png_bytes(exif={CAMERA_MAKE: "SecretCam"}), content_type="image/png"
    )

    response = _post_profile(csrf_client, user, avatar=upload)

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.display_name == "New Name"
    assert user.avatar_64 and user.avatar_128 and user.avatar_256
    assert len(stored_files(media_root)) == 3
    page = csrf_client.get(reverse("accounts:profile", args=[user.handle]))
    assert user.avatar_256.url in page.content.decode()


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("notes.txt", b"just some text, not an image", "not an image we can read"),
        ("bomb.png", png_declaring(20_000, 20_000), "too many pixels"),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (20 * 1024 * 1024), "too large"),
    ],
    ids=["text-file", "decompression-bomb", "20-MB"],
)
def test_profile_form_shows_avatar_error_and_saves_nothing(
    csrf_client, user, media_root, filename, content, message
):
    old_name, old_bio = user.display_name, user.bio
    upload = SimpleUploadedFile(filename, content, content_type="image/png")

    response = _post_profile(csrf_client, user, avatar=upload)

    assert response.status_code == 200
    errors = response.context["form"].errors["avatar"]
    assert any(message in error for error in errors), errors
    assert message in response.content.decode()
    user.refresh_from_db()
    assert (user.display_name, user.bio) == (old_name, old_bio)
    assert not user.avatar_64
    assert stored_files(media_root) == []


def test_profile_form_removes_the_avatar(csrf_client, user, media_root, django_capture_on_commit_callbacks):
    services.user_set_avatar(user=user, raw=png_bytes())
    assert len(stored_files(media_root)) == 3

    with django_capture_on_commit_callbacks(execute=True):
        response = _post_profile(csrf_client, user, remove_avatar="on")

    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.avatar_64 and not user.avatar_128 and not user.avatar_256
    assert stored_files(media_root) == []


class UnreadableUpload(SimpleUploadedFile):
    def read(self, *args, **kwargs):
        raise AssertionError("the form must judge the size without reading the file")

    def chunks(self, *args, **kwargs):
        raise AssertionError("the form must judge the size without reading the file")


def test_profile_form_refuses_an_oversized_file_without_reading_it(settings):
    upload = UnreadableUpload("big.jpg", b"", content_type="image/jpeg")
    upload.size = settings.AVATAR_MAX_BYTES + 1

    form = ProfileForm(data={"display_name": "x", "bio": ""}, files={"avatar": upload})

    assert not form.is_valid()
    assert "too large" in form.errors["avatar"][0]
