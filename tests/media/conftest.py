"""Fixtures for the media library tests: temp files, both storage backends, moto's S3 server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from media.storage import LocalStorage, Storage
from tests.media.moto_s3 import BUCKET, S3_CREDENTIALS, make_s3_storage


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Return a function that writes bytes to a fresh file and returns its path."""
    counter = iter(range(1_000_000))

    def _write(data: bytes, name: str | None = None) -> Path:
        path = tmp_path / (name or f"upload-{next(counter)}.bin")
        path.write_bytes(data)
        return path

    return _write


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Run moto's S3 server over HTTP on loopback for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        from media.s3 import S3Storage

        S3Storage(BUCKET, endpoint_url=endpoint, **S3_CREDENTIALS).client.create_bucket(
            Bucket=BUCKET
        )
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """Each storage backend in turn: the same tests run against both."""
    if request.param == "local":
        return LocalStorage(tmp_path / "media", secret="test-secret")
    return make_s3_storage(request.getfixturevalue("s3_endpoint"))
