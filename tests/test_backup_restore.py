"""The backup and restore drill of docs/operations.md, as a test: dump PostgreSQL with pg_dump and
copy the photo bucket, restore both into empty ones, and the restored system is whole: the audit
chain verifies, every stored photo still hashes to its name, and /readyz is ready."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app import create_app
from app.db import session
from app.media.models import MediaObject
from app.media.services import get_storage
from app.migrate import upgrade
from media.storage import original_key, thumbnail_key
from tests.conftest import FAST_ARGON2, requires_postgres
from tests.media.media_samples import jpeg
from tests.sync.live import drop_database, scratch_database

pytestmark = [
    requires_postgres,
    pytest.mark.skipif(
        not (shutil.which("pg_dump") and shutil.which("pg_restore")),
        reason="needs PostgreSQL's pg_dump and pg_restore on PATH",
    ),
]
S3 = {"S3_REGION": "us-east-1", "S3_ACCESS_KEY": "testing", "S3_SECRET_KEY": "testing"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, standing in for the district's MinIO."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _app(url: str, endpoint: str, bucket: str) -> Any:
    return create_app(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "drill-secret",
            "ARGON2_PARAMS": FAST_ARGON2,
            "MEDIA_BACKEND": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": endpoint,
            **S3,
        }
    )


def _libpq(url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _bucket(app: Any) -> Any:
    with app.app_context():
        storage = get_storage()
    storage.client.create_bucket(Bucket=storage.bucket)
    return storage


def _audit_verify(app: Any) -> str:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A production-like database (migrated, not create_all) and an empty one to restore into."""
    base = os.environ["TEST_DATABASE_URL"]
    source = scratch_database(base, tmp_path, "backup")
    target = scratch_database(base, tmp_path, "restore")
    try:
        yield source, target
    finally:
        drop_database(source)
        drop_database(target)


def test_a_dump_and_a_bucket_copy_restore_into_empty_servers_whole(
    databases, s3_endpoint, tmp_path
):
    source_url, target_url = databases
    upgrade(source_url)
    app = _app(source_url, s3_endpoint, "drill-source")
    source_bucket = _bucket(app)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo"]).exit_code == 0
    client = app.test_client()
    login = client.post(
        "/api/v1/auth/token", json={"username": "inspector1", "password": "fieldsafe-demo"}
    )
    headers = {"Authorization": f"Bearer {login.json['access_token']}"}
    photos = [jpeg(seed=n) for n in range(3)]
    for data in photos:
        sha = hashlib.sha256(data).hexdigest()
        put = client.put(
            f"/api/v1/media/{sha}",
            data=data,
            headers={**headers, "Content-Type": "image/jpeg"},
        )
        assert put.status_code == 201, put.json
    intact = _audit_verify(app)
    assert intact.startswith("audit log intact")

    # Back up: the database first, then the bucket (photos never change once written).
    dump = tmp_path / "fieldsafe.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", _libpq(source_url)],
        check=True,
        capture_output=True,
    )
    copy = tmp_path / "media"
    listing = source_bucket.client.get_paginator("list_objects_v2")
    for page in listing.paginate(Bucket=source_bucket.bucket):
        for item in page.get("Contents", []):
            path = copy / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            body = source_bucket.client.get_object(Bucket=source_bucket.bucket, Key=item["Key"])
            path.write_bytes(body["Body"].read())
    app.extensions["db"].engine.dispose()

    # Restore into an empty database and an empty bucket.
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={_libpq(target_url)}", str(dump)],
        check=True,
        capture_output=True,
    )
    restored = _app(target_url, s3_endpoint, "drill-restored")
    target_bucket = _bucket(restored)
    for path in copy.rglob("*"):
        if path.is_file():
            key = path.relative_to(copy).as_posix()
            target_bucket.client.put_object(
                Bucket=target_bucket.bucket, Key=key, Body=path.read_bytes()
            )

    # The drill passes: the chain is intact, every photo hashes to its name, the app is ready.
    assert _audit_verify(restored) == intact
    with restored.app_context():
        stored = session.execute(select(MediaObject.sha256)).scalars().all()
        storage = get_storage()
        assert {hashlib.sha256(p).hexdigest() for p in photos} <= set(stored)
        for sha in stored:
            with storage.open(original_key(sha)) as original:
                assert hashlib.sha256(original.read()).hexdigest() == sha
            assert storage.exists(thumbnail_key(sha, "small"))
    ready = restored.test_client().get("/readyz")
    assert ready.status_code == 200, ready.json
    again = restored.test_client().post(
        "/api/v1/auth/token", json={"username": "inspector1", "password": "fieldsafe-demo"}
    )
    assert again.status_code == 200
    restored.extensions["db"].engine.dispose()
