"""Uploads over real HTTP: the tuspy client, interrupted and resumed uploads, chunked PUTs.

Two app instances share one database, spool directory and storage, standing in for two
API processes behind a load balancer; both storage backends are exercised.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError

from tests.media.live import make_live_app, prepare_database, serve
from tests.media.media_samples import HTML, jpeg
from tests.media.moto_s3 import make_s3_storage

CHUNK = 16 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "s3"])
def servers(request, tmp_path):
    """Two live API processes (threads) on one database, spool and storage."""
    storage = None
    if request.param == "s3":
        storage = make_s3_storage(request.getfixturevalue("s3_endpoint"))
    first = make_live_app(tmp_path, storage)
    tokens = prepare_database(first)
    second = make_live_app(tmp_path, storage if storage is not None else None)
    with serve(first) as a, serve(second) as b:
        a.tokens = b.tokens = tokens
        yield a, b


def uploader(server, data: bytes, *, url: str | None = None, checksum: bool = True, **kw):
    client = tus_client.TusClient(f"{server.url}/api/v1/media/uploads", headers=server.headers())
    metadata = {"sha256": sha(data), "filename": "现场.jpg", "content_type": "image/jpeg"}
    return client.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=CHUNK,
        metadata=None if url else metadata,
        url=url,
        upload_checksum=checksum,
        **kw,
    )


def metadata(server, digest: str) -> dict:
    resp = requests.get(f"{server.url}/api/v1/media/{digest}", headers=server.headers(), timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def fetch(url: str) -> bytes:
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.content


def head_offset(server, location: str) -> int:
    resp = requests.head(
        location, headers={**server.headers(), "Tus-Resumable": "1.0.0"}, timeout=10
    )
    assert resp.status_code == 200
    return int(resp.headers["Upload-Offset"])


def test_tuspy_uploads_a_photo(servers):
    a, _ = servers
    data = jpeg((2000, 1500), seed=31)
    up = uploader(a, data)
    up.upload()
    body = metadata(a, sha(data))
    assert body["size"] == len(data)
    assert body["exif"]["model"] == "iPhone 15"
    assert fetch(body["original_url"]) == data
    assert fetch(body["thumbnails"]["large"])[:3] == b"\xff\xd8\xff"


def test_tuspy_upload_interrupted_halfway_resumes_on_another_process(servers):
    a, b = servers
    data = jpeg((2400, 1800), seed=32)
    assert len(data) > 4 * CHUNK
    first = uploader(a, data)
    first.upload(stop_at=len(data) // 2)
    location = first.url
    assert 0 < head_offset(b, location) < len(data)
    # A new client (the app was restarted) resumes through the other API process.
    resumed = uploader(b, data, url=location.replace(a.url, b.url))
    assert resumed.offset == head_offset(b, location)
    resumed.upload()
    assert head_offset(a, location) == len(data)
    assert fetch(metadata(a, sha(data))["original_url"]) == data


def test_connection_cut_mid_chunk_keeps_what_arrived(servers):
    a, _ = servers
    data = jpeg((2400, 1800), seed=33)
    up = uploader(a, data, checksum=False)
    up.upload(stop_at=CHUNK)
    location = up.url
    start = head_offset(a, location)

    # Send a PATCH announcing the rest of the file, deliver a part of it, drop the line.
    parts = urlsplit(location)
    sock = socket.create_connection((parts.hostname, parts.port))
    rest = data[start:]
    cut = len(rest) // 3
    request_head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: {a.headers()['Authorization']}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {start}\r\n"
        f"Content-Length: {len(rest)}\r\n\r\n"
    ).encode()
    sock.sendall(request_head + rest[:cut])
    sock.shutdown(socket.SHUT_WR)
    sock.close()

    # The server notices the cut when its read comes up short; wait for it to commit.
    deadline = time.monotonic() + 30
    while head_offset(a, location) == start and time.monotonic() < deadline:
        time.sleep(0.05)
    offset = head_offset(a, location)
    assert start < offset <= start + cut

    resumed = uploader(a, data, url=location)
    assert resumed.offset == offset
    resumed.upload()
    assert fetch(metadata(a, sha(data))["original_url"]) == data


def test_refused_tus_upload_is_a_client_error(servers):
    a, _ = servers
    data = HTML * 2000
    up = uploader(a, data)
    with pytest.raises(TusCommunicationError) as caught:
        up.upload()
    assert caught.value.status_code == 422
    resp = requests.get(f"{a.url}/api/v1/media/{sha(data)}", headers=a.headers(), timeout=10)
    assert resp.status_code == 404


def test_same_photo_twice_is_stored_once(servers):
    a, b = servers
    data = jpeg(seed=34)
    uploader(a, data).upload()
    uploader(b, data).upload()
    put = requests.put(f"{a.url}/api/v1/media/{sha(data)}", data=data, headers=a.headers())
    assert put.status_code == 200
    assert metadata(b, sha(data))["sha256"] == sha(data)


def _chunks(data: bytes, size: int = 8192):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_chunked_put_without_content_length(servers):
    a, _ = servers
    data = jpeg(seed=35)
    resp = requests.put(
        f"{a.url}/api/v1/media/{sha(data)}", data=_chunks(data), headers=a.headers(), timeout=30
    )
    assert resp.status_code == 201, resp.text
    a.app.config["MEDIA_MAX_BYTES"] = len(data) // 2
    bigger = jpeg(seed=36)
    resp = requests.put(
        f"{a.url}/api/v1/media/{sha(bigger)}",
        data=_chunks(bigger),
        headers=a.headers(),
        timeout=30,
    )
    assert resp.status_code == 413
    assert resp.json()["code"] == "media.too_large"


def test_put_with_declared_oversize_is_refused_before_the_body(servers):
    a, _ = servers
    a.app.config["MEDIA_MAX_BYTES"] = 1000
    parts = urlsplit(a.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.putrequest("PUT", f"/api/v1/media/{'a' * 64}")
    conn.putheader("Authorization", a.headers()["Authorization"])
    conn.putheader("Content-Length", str(50 * 1024 * 1024))
    conn.endheaders()  # no body sent at all
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


JS_DIR = Path(__file__).parent / "js"


@pytest.mark.skipif(
    shutil.which("node") is None or not (JS_DIR / "node_modules" / "tus-js-client").is_dir(),
    reason="needs node and `npm ci --prefix tests/media/js`",
)
def test_tus_js_client_uploads_and_resumes(servers, tmp_path):
    a, _ = servers
    data = jpeg((2400, 1800), seed=37)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    result = subprocess.run(
        [
            "node",
            str(JS_DIR / "upload.mjs"),
            f"{a.url}/api/v1/media/uploads",
            a.tokens["uploader"],
            str(path),
            sha(data),
            str(CHUNK),
            str(len(data) // 2),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["first"]["aborted"] and report["first"]["sent"] < len(data)
    assert report["last"]["url"] == report["first"]["url"]
    assert fetch(metadata(a, sha(data))["original_url"]) == data
