"""Helpers for running S3Storage against moto's server (the fixture lives in conftest)."""

from __future__ import annotations

import uuid

from media.storage import Storage

BUCKET = "fieldsafe-test"
S3_CREDENTIALS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}


def make_s3_storage(endpoint: str) -> Storage:
    """An S3Storage on the moto bucket with a prefix unique to the test."""
    from media.s3 import S3Storage

    return S3Storage(
        BUCKET, prefix=f"t-{uuid.uuid4().hex[:8]}/media", endpoint_url=endpoint, **S3_CREDENTIALS
    )
