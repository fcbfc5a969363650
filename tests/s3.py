"""An S3 server for the tests: moto's standalone server (from PyPI), speaking the S3 API over HTTP
on 127.0.0.1, as MinIO or AWS would. No cloud account and no network beyond loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid

import boto3

from spaces_project.storage import public_read_policy, s3_storages

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Server:
    """One moto server process; each test makes a bucket of its own on it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> S3Server:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("moto's S3 server exited at start")
            try:
                self.client().list_buckets()
                return self
            except Exception:  # not listening yet
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto's S3 server did not answer within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        """A bucket set up as docs/production.md says: avatars readable by anyone, nothing else."""
        name = f"spaces-test-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        client.put_bucket_policy(Bucket=name, Policy=public_read_policy(name))
        return name

    def storages(self, bucket: str) -> dict[str, dict]:
        """STORAGES entries for ``bucket`` on this server, as MEDIA_STORAGE=s3 builds them."""
        return s3_storages(
            bucket=bucket,
            endpoint_url=self.endpoint,
            region=REGION,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
        )

    def environment(self, bucket: str) -> dict[str, str]:
        """The environment a process the test starts needs to use ``bucket`` (MEDIA_STORAGE=s3)."""
        return {
            "MEDIA_STORAGE": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def keys(self, bucket: str) -> list[str]:
        client = self.client()
        found: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)
