"""S3-compatible storage (AWS S3, MinIO, Alibaba OSS). The only module that imports boto3."""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from media.storage import check_key

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Media in an S3 bucket under ``prefix``; reads are handed out as presigned GETs."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        addressing_style: str = "path",
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            # Path-style addressing works with MinIO and moto without wildcard DNS; OSS and
            # AWS accept it too. Credentials fall back to boto3's usual chain when omitted.
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url or None,
                region_name=region or None,
                aws_access_key_id=access_key or None,
                aws_secret_access_key=secret_key or None,
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": addressing_style},
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
        self.client = client

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, path: str | os.PathLike[str], content_type: str) -> None:
        """Stream the file to the bucket (multipart above boto3's threshold)."""
        with open(path, "rb") as fp:
            self.client.upload_fileobj(
                fp, self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}
            )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store a small object in one request."""
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    def open(self, key: str) -> BinaryIO:
        """Return a streaming reader of the object; FileNotFoundError when missing."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        return cast(BinaryIO, _BodyReader(response["Body"]))

    def exists(self, key: str) -> bool:
        """Tell whether the object exists (HEAD request)."""
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        """Delete the object; S3 does not mind when it is already gone."""
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def size(self, key: str) -> int:
        """Return the object's size from a HEAD request."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        return int(head["ContentLength"])

    def writable(self) -> bool:
        """Tell a readiness probe whether the bucket answers (HEAD bucket)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception:  # any failure means not ready; the probe needs no detail
            return False
        return True

    def url(self, key: str, expires_in: int) -> str:
        """Return a presigned GET URL valid for ``expires_in`` seconds."""
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=int(expires_in),
            )
        )


def _is_missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return str(error.get("Code")) in _NOT_FOUND


class _BodyReader(io.RawIOBase):
    """Adapt botocore's StreamingBody to a standard binary file object."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
