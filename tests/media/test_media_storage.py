"""The storage contract, run against LocalStorage and S3Storage (moto's server on loopback)."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from media.storage import LocalStorage, Storage, check_key, original_key, thumbnail_key

SHA = hashlib.sha256(b"photo").hexdigest()


def test_keys_are_content_addressed():
    assert original_key(SHA) == f"originals/{SHA[:2]}/{SHA[2:4]}/{SHA}"
    assert thumbnail_key(SHA, "small") == f"thumbs/small/{SHA}.jpg"
    with pytest.raises(ValueError):
        original_key("ABC")
    with pytest.raises(ValueError):
        thumbnail_key(SHA, "../x")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", "a//b", "a/b/", "", "a b"])
def test_unsafe_keys_are_refused(key):
    with pytest.raises(ValueError):
        check_key(key)


def test_storage_implements_the_protocol(storage):
    assert isinstance(storage, Storage)


def test_put_file_then_read_back(storage: Storage, write):
    data = os.urandom(3 * 1024 * 1024 + 17)
    key = original_key(hashlib.sha256(data).hexdigest())
    assert not storage.exists(key)
    storage.put_file(key, write(data), "image/jpeg")
    assert storage.exists(key)
    assert storage.size(key) == len(data)
    with storage.open(key) as fp:
        assert fp.read() == data


def test_put_bytes_overwrites_atomically(storage: Storage):
    key = thumbnail_key(SHA, "small")
    storage.put_bytes(key, b"first", "image/jpeg")
    storage.put_bytes(key, b"second", "image/jpeg")
    with storage.open(key) as fp:
        assert fp.read() == b"second"


def test_missing_objects(storage: Storage):
    key = original_key("0" * 64)
    assert not storage.exists(key)
    with pytest.raises(FileNotFoundError):
        storage.open(key)
    with pytest.raises(FileNotFoundError):
        storage.size(key)
    storage.delete(key)  # deleting what is not there is fine


def test_delete_removes(storage: Storage):
    key = thumbnail_key(SHA, "large")
    storage.put_bytes(key, b"x", "image/jpeg")
    storage.delete(key)
    assert not storage.exists(key)


def test_url_grants_read_access(storage: Storage, tmp_path):
    key = thumbnail_key(SHA, "small")
    storage.put_bytes(key, b"\xff\xd8thumb", "image/jpeg")
    url = storage.url(key, expires_in=60)
    if isinstance(storage, LocalStorage):
        # A relative URL the app serves; its parameters verify.
        parts = urlsplit(url)
        assert parts.path == f"/api/v1/media/files/{key}"
        query = parse_qs(parts.query)
        served = unquote(parts.path.removeprefix(storage.url_prefix + "/"))
        assert storage.verify_signed(served, query["expires"][0], query["signature"][0])
    else:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b"\xff\xd8thumb"


def test_s3_url_is_presigned_for_the_requested_lifetime(s3_endpoint):
    from tests.media.moto_s3 import make_s3_storage

    storage = make_s3_storage(s3_endpoint)
    key = thumbnail_key(SHA, "small")
    query = parse_qs(urlsplit(storage.url(key, expires_in=90)).query)
    # moto does not check signatures, so the signing itself is botocore's business;
    # what we own is the lifetime and that it is a SigV4 presign of this object.
    assert query["X-Amz-Expires"] == ["90"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert urlsplit(storage.url(key, expires_in=90)).path.endswith(f"{storage.prefix}/{key}")


def test_s3_objects_carry_the_content_type_and_prefix(s3_endpoint, write):
    from tests.media.moto_s3 import BUCKET, make_s3_storage

    storage = make_s3_storage(s3_endpoint)
    key = original_key(SHA)
    storage.put_file(key, write(b"png-bytes"), "image/png")
    head = storage.client.head_object(Bucket=BUCKET, Key=f"{storage.prefix}/{key}")
    assert head["ContentType"] == "image/png"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_local_signed_url_expires(tmp_path):
    clock = FakeClock(1_000_000.0)
    storage = LocalStorage(tmp_path, secret="s3cret", clock=clock)
    key = thumbnail_key(SHA, "large")
    query = parse_qs(urlsplit(storage.url(key, expires_in=300)).query)
    expires, signature = query["expires"][0], query["signature"][0]
    assert int(expires) == 1_000_300
    clock.now += 299
    assert storage.verify_signed(key, expires, signature)
    clock.now += 2
    assert not storage.verify_signed(key, expires, signature)


def test_local_signed_url_tampering_is_detected(tmp_path):
    storage = LocalStorage(tmp_path, secret="s3cret")
    key = thumbnail_key(SHA, "large")
    query = parse_qs(urlsplit(storage.url(key, expires_in=300)).query)
    expires, signature = query["expires"][0], query["signature"][0]
    assert storage.verify_signed(key, expires, signature)
    assert not storage.verify_signed(thumbnail_key(SHA, "small"), expires, signature)
    assert not storage.verify_signed(key, str(int(expires) + 3600), signature)
    assert not storage.verify_signed(
        key, expires, signature[:-1] + ("1" if signature[-1] == "0" else "0")
    )
    assert not storage.verify_signed(key, "soon", signature)
    assert not storage.verify_signed("../secret", expires, signature)
    other = LocalStorage(tmp_path, secret="another")
    assert not other.verify_signed(key, expires, signature)
    # Regression: a non-ASCII signature made hmac.compare_digest raise TypeError (a 500).
    assert not storage.verify_signed(key, expires, "é" + signature[1:])


def test_local_writes_leave_no_temp_files(tmp_path, write):
    storage = LocalStorage(tmp_path / "m", secret="x")
    key = original_key(SHA)
    storage.put_file(key, write(b"abc"), "image/jpeg")
    siblings = os.listdir(storage.path(key).parent)
    assert siblings == [SHA]


def test_local_failed_write_keeps_the_old_object(tmp_path):
    storage = LocalStorage(tmp_path, secret="x")
    key = original_key(SHA)
    storage.put_bytes(key, b"old", "image/jpeg")

    class Boom(Exception):
        pass

    def make(tmp):
        tmp.write_bytes(b"partial")
        raise Boom

    with pytest.raises(Boom):
        storage._place(key, make)
    with storage.open(key) as fp:
        assert fp.read() == b"old"
    assert os.listdir(storage.path(key).parent) == [SHA]


def test_storage_reports_writable(storage):
    assert storage.writable()


def test_local_put_file_links_the_spooled_file_and_copies_across_filesystems(tmp_path, monkeypatch):
    """The stored original is the spooled file under a new name (no copy of its bytes); it
    outlives the spool's name, and where no hard link can be made it is copied instead."""
    storage = LocalStorage(tmp_path / "media", "secret")
    data = os.urandom(200_000)
    spooled = tmp_path / "upload.part"
    spooled.write_bytes(data)
    key = original_key(hashlib.sha256(data).hexdigest())
    storage.put_file(key, spooled, "image/jpeg")
    stored = storage.path(key)
    assert stored.stat().st_ino == spooled.stat().st_ino  # one file, two names
    assert oct(stored.stat().st_mode & 0o777) == "0o644"
    spooled.unlink()
    assert stored.read_bytes() == data
    assert not [p for p in stored.parent.iterdir() if p.name.startswith(".tmp-")]

    def cross_device(src, dst):
        raise OSError(18, "Invalid cross-device link")  # EXDEV, as another filesystem gives

    monkeypatch.setattr(os, "link", cross_device)
    other = os.urandom(100_000)
    spooled.write_bytes(other)
    key = original_key(hashlib.sha256(other).hexdigest())
    storage.put_file(key, spooled, "image/jpeg")
    assert storage.path(key).read_bytes() == other
    assert storage.path(key).stat().st_ino != spooled.stat().st_ino  # a copy
