"""MEDIA_STORAGE=s3: the storages Django builds talk to a real S3 server (moto's, tests/s3.py)."""

import urllib.request

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages


def test_private_files_get_presigned_urls_and_public_ones_plain_urls(s3_media):
    server, bucket = s3_media
    private, public = default_storage, storages["public"]
    private.save("exports/a.zip", ContentFile(b"secret"))
    public.save("avatars/a.webp", ContentFile(b"face"))
    assert server.keys(bucket) == ["avatars/a.webp", "exports/a.zip"]

    private_url = private.url("exports/a.zip")
    assert "X-Amz-Signature=" in private_url and "X-Amz-Expires=300" in private_url
    with urllib.request.urlopen(private_url) as response:
        assert response.read() == b"secret"
    public_url = public.url("avatars/a.webp")
    assert "X-Amz-" not in public_url and public_url.endswith(f"/{bucket}/avatars/a.webp")
