"""A real S3-compatible server on a free localhost port: the Versity S3 Gateway on a local folder.

``versitygw`` (Apache-2.0) serves the S3 API from its ``posix`` backend: each bucket is a folder
under ``root/data`` and each object a file in it, its metadata (ETag, content type, user metadata)
in a sidecar folder, so the server needs no extended attributes from the file system. It answers
the requests S3A, boto3 and delta-rs send (multipart uploads, ``ListObjectsV2``, ranged reads,
``CopyObject``) and conditional writes (``If-None-Match: *``). The binary is built by
``tests/s3/build-s3-server.sh``::

    with S3Server(binary, tmp_path) as server:
        server.create_bucket("riskpipe")
        env.update(server.client_env())

The access key and secret are the server's root user, made up per instance: a real server
checks the signature of every request, so a client configured with other keys is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from riskpipe.testing.services import Service, free_port

START_TIMEOUT_SECONDS = 60


class S3Server:
    """Context manager around ``versitygw posix``.

    Attributes (valid once started):
        url: ``http://127.0.0.1:<port>``, the endpoint of every client.
        access_key, secret_key: the root user's credentials.
        region: the region the server signs for.
        data: the folder holding the buckets (one folder each).
        service: the :class:`~riskpipe.testing.services.Service` (log: ``<root>/s3-server.log``).
    """

    def __init__(self, binary: str | Path, root: str | Path, *, region: str = "us-east-1") -> None:
        self.binary = Path(binary).resolve()
        self.root = Path(root)
        self.data = self.root / "data"
        self.region = region
        self.access_key = f"riskpipe-{secrets.token_hex(4)}"
        self.secret_key = secrets.token_urlsafe(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.service: Service | None = None

    def start(self) -> S3Server:
        sidecar = self.root / "metadata"
        for folder in (self.data, sidecar):
            folder.mkdir(parents=True, exist_ok=True)
        command = [
            self.binary,
            "--port",
            f"127.0.0.1:{self.port}",
            "--region",
            self.region,
            "--quiet",
            "posix",
            "--sidecar",
            sidecar,
            self.data,
        ]
        # the credentials go through the environment, not the command line (visible to ps)
        env = {"ROOT_ACCESS_KEY_ID": self.access_key, "ROOT_SECRET_ACCESS_KEY": self.secret_key}
        self.service = Service("s3-server", command, log_dir=self.root, env=env).start()
        try:
            self.service.wait_until(
                lambda: self.client().list_buckets() is not None, timeout=START_TIMEOUT_SECONDS, what="ListBuckets"
            )
        except BaseException:
            self.stop()
            raise
        return self

    def client(self) -> Any:
        """A boto3 S3 client of the root user (path-style addressing, as S3A is configured)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key under ``prefix`` in ``bucket``, listed through the S3 API."""
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def client_env(self) -> dict[str, str]:
        """The credentials and region every client (S3A, boto3, delta-rs) reads from its environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def storage_options(self) -> Mapping[str, str]:
        """delta-rs (``deltalake``) options for reading a table from this server."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
            "AWS_FORCE_PATH_STYLE": "true",
        }

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
