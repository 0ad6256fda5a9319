"""The media API through HTTP (Flask test client), on both storage backends."""

from __future__ import annotations

import base64
import hashlib
import io
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select

from media.storage import original_key, thumbnail_key
from media.tus import encode_metadata
from tests.media.media_samples import HTML, SVG, bomb_png, encode, jpeg, picture, zip_bytes
from tests.media.moto_s3 import make_s3_storage

OCTETS = "application/offset+octet-stream"
TUS = {"Tus-Resumable": "1.0.0"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "s3"])
def backend(request, app):
    """Run each API test with local storage and with S3 (moto) injected into the app."""
    if request.param == "s3":
        app.extensions["storage"] = make_s3_storage(request.getfixturevalue("s3_endpoint"))
    return request.param


@pytest.fixture
def storage(app, backend):
    from app.media.services import get_storage

    with app.app_context():
        return get_storage()


@pytest.fixture
def inspector(make, login):
    user = make.user("inspector", jurisdiction="huayanglu")
    return user, login(user)


def fetch(client, url: str) -> bytes:
    """GET a signed URL: local ones through the app, presigned S3 ones over HTTP."""
    parts = urlsplit(url)
    if parts.path.startswith("/api/v1/media/files/"):
        with client.get(f"{parts.path}?{parts.query}") as resp:
            assert resp.status_code == 200, resp.json
            return resp.data
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def stored_anything(storage, digest: str) -> bool:
    keys = [original_key(digest)] + [thumbnail_key(digest, n) for n in ("small", "large")]
    return any(storage.exists(k) for k in keys)


def media_count(app) -> int:
    from app.db import session
    from app.media.models import MediaObject

    with app.app_context():
        return session.scalar(select(func.count()).select_from(MediaObject)) or 0


# ----------------------------------------------------------------------------- PUT


def test_put_stores_once_and_answers_metadata(client, inspector, storage, backend):
    _, headers = inspector
    data = jpeg((1200, 900))
    digest = sha(data)
    resp = client.put(f"/api/v1/media/{digest}", data=data, headers=headers)
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["sha256"] == digest
    assert body["size"] == len(data)
    assert body["content_type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (1200, 900)
    assert body["exif"]["taken_at"] == "2026-11-20T02:15:00Z"
    assert body["exif"]["gps"]["lat"] == pytest.approx(31.2084722, abs=1e-6)
    assert body["exif"]["make"] == "Apple"
    assert len(body["phash"]) == 16
    assert fetch(client, body["original_url"]) == data
    small = Image.open(io.BytesIO(fetch(client, body["thumbnails"]["small"])))
    assert max(small.size) == 320 and "exif" not in small.info

    again = client.put(f"/api/v1/media/{digest}", data=data, headers=headers)
    assert again.status_code == 200
    assert again.json["sha256"] == digest


@pytest.mark.parametrize(
    ("make_body", "code", "status"),
    [
        (lambda: jpeg()[:4000], "media.corrupt", 422),
        (lambda: bomb_png(), "media.too_large_pixels", 422),
        (lambda: HTML, "media.unsupported_type", 422),
        (lambda: SVG, "media.unsupported_type", 422),
        (lambda: zip_bytes(), "media.unsupported_type", 422),
        (lambda: b"", "media.empty", 422),
    ],
)
def test_put_refusals_store_nothing(
    app, client, inspector, storage, backend, make_body, code, status
):
    _, headers = inspector
    body = make_body()
    digest = sha(body)
    resp = client.put(
        f"/api/v1/media/{digest}",
        data=body,
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert resp.status_code == status, resp.json
    assert resp.json["code"] == code
    assert not stored_anything(storage, digest)
    assert media_count(app) == 0


def test_put_hash_mismatch_is_refused(app, client, inspector, storage, backend):
    _, headers = inspector
    data = jpeg()
    claimed = sha(b"another photo")
    resp = client.put(f"/api/v1/media/{claimed}", data=data, headers=headers)
    assert resp.status_code == 422
    assert resp.json["code"] == "media.hash_mismatch"
    assert not stored_anything(storage, claimed)
    assert not stored_anything(storage, sha(data))


def test_put_body_over_the_limit_is_413(app, client, inspector, backend):
    app.config["MEDIA_MAX_BYTES"] = 10_000
    _, headers = inspector
    data = jpeg((800, 600))
    assert len(data) > 10_000
    resp = client.put(f"/api/v1/media/{sha(data)}", data=data, headers=headers)
    assert resp.status_code == 413
    assert resp.json["code"] == "media.too_large"


def test_put_invalid_hash_path(client, inspector):
    _, headers = inspector
    resp = client.put("/api/v1/media/not-a-hash", data=b"x", headers=headers)
    assert resp.status_code == 400
    assert resp.json["code"] == "media.invalid_sha256"


# ----------------------------------------------------------------------------- GET and visibility


def _finding_with_photo(app, make, digest: str, jurisdiction: str, status: str = "submitted"):
    from app.db import session
    from app.inspections.models import Finding, Inspection

    enterprise = make.enterprise(jurisdiction=jurisdiction)
    with app.app_context():
        insp = Inspection(
            type="routine",
            status=status,
            enterprise_id=enterprise.id,
            jurisdiction_code=jurisdiction,
            industry="gas_catering",
            check_in_received_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
        )
        session.add(insp)
        session.flush()
        session.add(
            Finding(
                id=uuid.uuid4(),
                inspection_id=insp.id,
                item_code="GC-01",
                result="fail",
                grade="general",
                photos=["0" * 64, digest],
                recorded_at=datetime(2026, 11, 20, 2, 10, tzinfo=UTC),
            )
        )
        session.commit()
    return enterprise


def test_get_is_for_uploaders_and_those_who_see_a_referencing_record(app, client, make, login):
    uploader = make.user("inspector", jurisdiction="huayanglu")
    data = jpeg(seed=5)
    digest = sha(data)
    assert client.put(f"/api/v1/media/{digest}", data=data, headers=login(uploader)).status_code
    url = f"/api/v1/media/{digest}"
    assert client.get(url, headers=login(uploader)).status_code == 200

    stranger = make.user("supervisor", jurisdiction="huayanglu")
    resp = client.get(url, headers=login(stranger))
    assert resp.status_code == 404
    assert resp.json["code"] == "media.not_found"

    enterprise = _finding_with_photo(app, make, digest, "huayanglu")
    assert client.get(url, headers=login(stranger)).status_code == 200
    district = make.user("supervisor", jurisdiction="changning")
    assert client.get(url, headers=login(district)).status_code == 200
    other_street = make.user("supervisor", jurisdiction="xinhualu")
    assert client.get(url, headers=login(other_street)).status_code == 404
    # The enterprise sees its inspection's photos only once the inspection was reviewed.
    owner = make.user("enterprise", jurisdiction="huayanglu", enterprise_id=enterprise.id)
    assert client.get(url, headers=login(owner)).status_code == 404


def test_same_bytes_from_a_second_uploader_grant_them_sight(client, make, login):
    first, second = make.user("inspector"), make.user("inspector", jurisdiction="xinhualu")
    data = jpeg(seed=6)
    url = f"/api/v1/media/{sha(data)}"
    assert client.put(url, data=data, headers=login(first)).status_code == 201
    assert client.get(url, headers=login(second)).status_code == 404
    assert client.put(url, data=data, headers=login(second)).status_code == 200
    assert client.get(url, headers=login(second)).status_code == 200


def test_knowing_a_hash_is_not_enough_to_claim_a_photo(client, make, login):
    owner, thief = make.user("inspector"), make.user("inspector", jurisdiction="xinhualu")
    data = jpeg(seed=11)
    url = f"/api/v1/media/{sha(data)}"
    assert client.put(url, data=data, headers=login(owner)).status_code == 201
    resp = client.put(url, data=b"\xff\xd8\xff not the photo", headers=login(thief))
    assert resp.status_code == 422
    assert client.get(url, headers=login(thief)).status_code == 404


def test_get_unknown_or_malformed_hash_is_404(client, inspector):
    _, headers = inspector
    assert client.get(f"/api/v1/media/{'a' * 64}", headers=headers).status_code == 404
    assert client.get("/api/v1/media/zzz", headers=headers).status_code == 404


def test_get_answers_if_none_match_with_304(client, inspector):
    _, headers = inspector
    data = jpeg(seed=12)
    url = f"/api/v1/media/{sha(data)}"
    client.put(url, data=data, headers=headers)
    first = client.get(url, headers=headers)
    assert first.headers["ETag"] == f'"{sha(data)}"'
    again = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_local_signed_url_refuses_tampering_and_expiry(app, client, inspector):
    _, headers = inspector
    data = encode(picture((300, 200)), "PNG")
    body = client.put(f"/api/v1/media/{sha(data)}", data=data, headers=headers).json
    parts = urlsplit(body["original_url"])
    with client.get(f"{parts.path}?{parts.query}") as ok:
        assert ok.status_code == 200
        assert ok.mimetype == "image/png"
        assert ok.headers["X-Content-Type-Options"] == "nosniff"
        assert ok.data == data
    forged = parts.query.replace("signature=", "signature=0")
    assert client.get(f"{parts.path}?{forged}").status_code == 403
    other = client.get(f"/api/v1/media/files/{thumbnail_key(sha(data), 'large')}?{parts.query}")
    assert other.status_code == 403
    assert other.json["code"] == "media.url_invalid"
    assert client.get(f"{parts.path}").status_code == 422  # no signature at all
    non_ascii = client.get(f"{parts.path}?{parts.query.replace('signature=', 'signature=%C3%A9')}")
    assert non_ascii.status_code == 403  # was a 500: compare_digest refuses non-ASCII str
    later = datetime.now(UTC) + timedelta(hours=1)
    app.extensions["storage"]._clock = lambda: later.timestamp()
    assert client.get(f"{parts.path}?{parts.query}").status_code == 403


# ----------------------------------------------------------------------------- tus (test client)


def _create(client, headers, data: bytes, digest: str | None = None) -> str:
    meta = encode_metadata(
        {"sha256": digest or sha(data), "filename": "现场照片.jpg", "content_type": "image/jpeg"}
    )
    resp = client.post(
        "/api/v1/media/uploads",
        headers={**headers, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta},
    )
    assert resp.status_code == 201, resp.json
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert "Upload-Expires" in resp.headers
    return resp.headers["Location"]


def _patch(client, headers, location, offset: int, chunk: bytes, **extra: str):
    return client.patch(
        location,
        data=chunk,
        headers={
            **headers,
            **TUS,
            "Content-Type": OCTETS,
            "Upload-Offset": str(offset),
            **extra,
        },
    )


def test_tus_options_is_public_discovery(client):
    resp = client.options("/api/v1/media/uploads")
    assert resp.status_code == 204
    assert resp.headers["Tus-Version"] == "1.0.0"
    assert set(resp.headers["Tus-Extension"].split(",")) == {
        "creation",
        "checksum",
        "termination",
        "expiration",
    }
    assert int(resp.headers["Tus-Max-Size"]) > 0
    assert resp.headers["Tus-Checksum-Algorithm"] == "sha1,sha256"


def test_tus_upload_in_chunks_with_checksums(app, client, inspector, storage, backend):
    _, headers = inspector
    data = jpeg((1600, 1200), seed=21)
    location = _create(client, headers, data)
    assert location.startswith("/api/v1/media/uploads/")
    head = client.head(location, headers={**headers, **TUS})
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(data))
    assert head.headers["Cache-Control"] == "no-store"
    offset = 0
    step = len(data) // 3 + 1
    for i, algorithm in zip(range(0, len(data), step), ("sha1", "sha256", "sha1"), strict=False):
        chunk = data[i : i + step]
        digest = base64.b64encode(hashlib.new(algorithm, chunk).digest()).decode()
        resp = _patch(
            client, headers, location, offset, chunk, **{"Upload-Checksum": f"{algorithm} {digest}"}
        )
        assert resp.status_code == 204, resp.json
        offset += len(chunk)
        assert resp.headers["Upload-Offset"] == str(offset)
    assert offset == len(data)
    meta = client.get(f"/api/v1/media/{sha(data)}", headers=headers)
    assert meta.status_code == 200
    assert fetch(client, meta.json["original_url"]) == data
    # A completed upload still answers HEAD (a client whose last answer was lost).
    assert client.head(location, headers={**headers, **TUS}).headers["Upload-Offset"] == str(
        len(data)
    )


def test_tus_checksum_mismatch_is_460(client, inspector):
    _, headers = inspector
    data = jpeg(seed=22)
    location = _create(client, headers, data)
    bad = base64.b64encode(hashlib.sha1(b"nope").digest()).decode()
    resp = _patch(client, headers, location, 0, data[:1000], **{"Upload-Checksum": f"sha1 {bad}"})
    assert resp.status_code == 460
    assert resp.json["code"] == "tus.checksum_mismatch"
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert client.head(location, headers={**headers, **TUS}).headers["Upload-Offset"] == "0"


def test_tus_offset_mismatch_and_bad_requests(client, inspector):
    _, headers = inspector
    data = jpeg(seed=23)
    location = _create(client, headers, data)
    assert _patch(client, headers, location, 0, data[:100]).status_code == 204
    resp = _patch(client, headers, location, 0, data[:100])
    assert resp.status_code == 409
    assert resp.json["code"] == "tus.offset_mismatch"
    wrong_type = client.patch(
        location,
        data=data[100:200],
        headers={**headers, **TUS, "Content-Type": "image/jpeg", "Upload-Offset": "100"},
    )
    assert wrong_type.status_code == 415
    no_version = client.post("/api/v1/media/uploads", headers={**headers, "Upload-Length": "10"})
    assert no_version.status_code == 412
    too_big = client.post(
        "/api/v1/media/uploads",
        headers={
            **headers,
            **TUS,
            "Upload-Length": str(10**12),
            "Upload-Metadata": encode_metadata({"sha256": sha(data)}),
        },
    )
    assert too_big.status_code == 413
    no_sha = client.post(
        "/api/v1/media/uploads",
        headers={**headers, **TUS, "Upload-Length": "10", "Upload-Metadata": ""},
    )
    assert no_sha.status_code == 400
    assert no_sha.json["code"] == "tus.sha256_required"
    # Regression: non-ASCII digits in tus headers were a 500 (int("²") after isdigit()).
    meta = encode_metadata({"sha256": sha(data)})
    odd = client.post(
        "/api/v1/media/uploads",
        headers={**headers, **TUS, "Upload-Length": "\xb2", "Upload-Metadata": meta},
    )
    assert odd.status_code == 400 and odd.json["code"] == "tus.invalid_upload_length"
    odd = _patch(client, headers, location, 0, b"", **{"Upload-Offset": "\xb2"})
    assert odd.status_code == 400 and odd.json["code"] == "tus.invalid_upload_offset"


def test_tus_upload_belongs_to_its_creator(client, make, login):
    owner, other = make.user("inspector"), make.user("inspector")
    data = jpeg(seed=24)
    location = _create(client, login(owner), data)
    assert client.head(location, headers={**login(other), **TUS}).status_code == 404
    assert _patch(client, login(other), location, 0, data[:10]).status_code == 404
    assert client.delete(location, headers={**login(other), **TUS}).status_code == 404


def test_tus_termination(client, inspector, app):
    _, headers = inspector
    data = jpeg(seed=25)
    location = _create(client, headers, data)
    _patch(client, headers, location, 0, data[:500])
    resp = client.delete(location, headers={**headers, **TUS})
    assert resp.status_code == 204
    assert client.head(location, headers={**headers, **TUS}).status_code == 404
    upload_id = location.rsplit("/", 1)[-1]
    assert not (Path(app.config["MEDIA_SPOOL"]) / f"{uuid.UUID(upload_id).hex}.part").exists()


def test_tus_completed_upload_that_fails_verification_stores_nothing(
    app, client, inspector, storage, backend
):
    _, headers = inspector
    data = HTML * 10
    location = _create(client, headers, data)
    resp = _patch(client, headers, location, 0, data)
    assert resp.status_code == 422
    assert resp.json["code"] == "media.unsupported_type"
    assert not stored_anything(storage, sha(data))
    assert client.head(location, headers={**headers, **TUS}).status_code == 404

    photo = jpeg(seed=26)
    claimed = sha(b"different")
    location = _create(client, headers, photo, digest=claimed)
    resp = _patch(client, headers, location, 0, photo)
    assert resp.status_code == 422
    assert resp.json["code"] == "media.hash_mismatch"
    assert not stored_anything(storage, sha(photo))
    assert media_count(app) == 0


def test_tus_expiry_and_cleanup_command(app, client, inspector):
    _, headers = inspector
    app.config["MEDIA_UPLOAD_TTL"] = 60
    data = jpeg(seed=27)
    location = _create(client, headers, data)
    assert _patch(client, headers, location, 0, data[:100]).status_code == 204
    later = datetime.now(UTC) + timedelta(minutes=2)
    app.config["CLOCK"] = lambda: later
    resp = client.head(location, headers={**headers, **TUS})
    assert resp.status_code == 410  # HEAD answers carry no body, so no code to check
    patched = _patch(client, headers, location, 100, data[100:200])
    assert patched.status_code == 410
    assert patched.json["code"] == "tus.expired"
    result = app.test_cli_runner().invoke(args=["media", "cleanup"])
    assert result.exit_code == 0, result.output
    assert "removed 1" in result.output
    assert client.head(location, headers={**headers, **TUS}).status_code == 404
    upload_id = location.rsplit("/", 1)[-1]
    assert not (Path(app.config["MEDIA_SPOOL"]) / f"{uuid.UUID(upload_id).hex}.part").exists()


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("WEBP", "image/webp"), ("HEIF", "image/heic")],
)
def test_put_other_formats(client, inspector, fmt, content_type):
    _, headers = inspector
    data = encode(picture((400, 300), seed=40), fmt)
    resp = client.put(
        f"/api/v1/media/{sha(data)}", data=data, headers={**headers, "Content-Type": "image/jpeg"}
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["content_type"] == content_type
    assert resp.json["exif"] is None


def test_missing_media_and_stored_hook(app, client, inspector):
    from dataclasses import replace

    from app.media import services

    _, headers = inspector
    data = jpeg(seed=41)
    stored: list[str] = []
    hooks = app.extensions["photo_hooks"]
    app.extensions["photo_hooks"] = replace(hooks, stored=(*hooks.stored, stored.append))
    with app.test_request_context():
        assert services.missing_media([sha(data), sha(data).upper(), "b" * 64]) == [
            sha(data),
            "b" * 64,
        ]
    client.put(f"/api/v1/media/{sha(data)}", data=data, headers=headers)
    client.put(f"/api/v1/media/{sha(data)}", data=data, headers=headers)
    assert stored == [sha(data)]
    with app.test_request_context():
        assert services.missing_media([sha(data), "b" * 64]) == ["b" * 64]
        assert list(services.media_by_sha([sha(data)])) == [sha(data)]


def test_photo_hooks_belong_to_one_app(app, test_db, tmp_path):
    from dataclasses import replace

    from tests.conftest import make_test_app

    other = make_test_app(test_db, tmp_path / "other")
    app.extensions["photo_hooks"] = replace(app.extensions["photo_hooks"], stored=())
    assert other.extensions["photo_hooks"].stored  # wired afresh, untouched by the first app
    assert other.extensions["photo_hooks"].citations


def test_storage_is_built_from_config(app, tmp_path):
    from app.media.services import build_storage
    from media.storage import LocalStorage

    assert isinstance(app.extensions["storage"], LocalStorage)
    s3 = build_storage(
        {
            "MEDIA_BACKEND": "s3",
            "S3_BUCKET": "b",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "S3_REGION": "us-east-1",
            "S3_PREFIX": "p",
            "S3_ACCESS_KEY": "k",
            "S3_SECRET_KEY": "s",
        }
    )
    assert type(s3).__name__ == "S3Storage" and s3.prefix == "p"
    with pytest.raises(RuntimeError):
        build_storage({"MEDIA_BACKEND": "s3"})
    with pytest.raises(RuntimeError):
        build_storage({"MEDIA_BACKEND": "ftp"})
