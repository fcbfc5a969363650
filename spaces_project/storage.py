"""The media storages for S3-compatible object storage (MEDIA_STORAGE=s3, docs/production.md).

Two storages over one bucket: "default" for private files (replays, clips, transcripts, data
exports), whose URLs are presigned and short-lived, and "public" for files anyone may fetch
(avatars), whose URLs carry no signature so a CDN can cache them. Kept apart from settings so the
tests that start their own S3 server build the same configuration.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

S3_BACKEND = "storages.backends.s3.S3Storage"
# The only files anyone may fetch straight from the bucket (deploy/'s nginx site serves the same
# tree from disk): everything else goes out after the permission check, by presigned URLs.
PUBLIC_PREFIXES = ("avatars/",)


def s3_storages(
    *,
    bucket: str,
    endpoint_url: str = "",
    region: str = "us-east-1",
    access_key: str = "",
    secret_key: str = "",
    public_url: str = "",
    presign_seconds: int = 300,
) -> dict[str, dict]:
    """STORAGES entries "default" (private) and "public" for one bucket."""
    common = {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url or None,
        "region_name": region,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        # Self-hosted stores (MinIO, Garage, Ceph) answer at one host, the bucket in the path.
        "addressing_style": "path" if endpoint_url else None,
        "signature_version": "s3v4",
        "file_overwrite": True,
        "default_acl": None,
    }
    public = {
        **common,
        "querystring_auth": False,
        "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
    }
    if public_url:
        parts = urlsplit(public_url.rstrip("/"))
        public["custom_domain"] = parts.netloc + parts.path
        public["url_protocol"] = f"{parts.scheme}:"
    return {
        "default": {
            "BACKEND": S3_BACKEND,
            "OPTIONS": {**common, "querystring_auth": True, "querystring_expire": presign_seconds},
        },
        "public": {"BACKEND": S3_BACKEND, "OPTIONS": public},
    }


def public_read_policy(bucket: str) -> str:
    """The bucket policy (JSON) that lets anyone, or a CDN, read PUBLIC_PREFIXES and nothing else;
    docs/production.md shows it and the tests' S3 server enforces it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicAvatars",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*" for prefix in PUBLIC_PREFIXES],
                }
            ],
        },
        indent=2,
    )
