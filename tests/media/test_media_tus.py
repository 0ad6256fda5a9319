"""tus 1.0 protocol logic: headers, offsets, checksums, limits, expiry, races."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest

from media.errors import MediaError
from media.tus import (
    CHECKSUM_MISMATCH,
    MemoryUploadStore,
    TusUploads,
    check_resumable,
    discovery_headers,
    encode_metadata,
    http_date,
    parse_checksum,
    parse_metadata,
    session_headers,
)

DATA = bytes(range(256)) * 40  # 10 240 bytes
SHA = hashlib.sha256(DATA).hexdigest()
OCTETS = "application/offset+octet-stream"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tus(tmp_path, clock) -> TusUploads:
    return TusUploads(
        MemoryUploadStore(), tmp_path / "spool", max_size=1_000_000, chunk_size=1000, clock=clock
    )


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def create(tus: TusUploads, length: int = len(DATA), sha: str = SHA):
    return tus.create(str(length), encode_metadata({"sha256": sha, "filename": "现场.jpg"}))


def patch(tus, upload_id, offset, data, **kwargs):
    kwargs.setdefault("content_type", OCTETS)
    return tus.append(upload_id, offset=str(offset), body=io.BytesIO(data), **kwargs)


def test_metadata_round_trip_with_empty_values():
    header = encode_metadata({"sha256": SHA, "filename": "隐患 1.jpg", "is_confidential": None})
    assert parse_metadata(header) == {
        "sha256": SHA,
        "filename": "隐患 1.jpg",
        "is_confidential": None,
    }
    assert parse_metadata(None) == {}
    assert parse_metadata("") == {}


@pytest.mark.parametrize(
    "header", ["key !!!", "a Zm9v,a YmFy", "bad key Zm9v", ",", "k Zm9v extra", "k /w=="]
)
def test_malformed_metadata_is_400(header):
    with pytest.raises(MediaError) as caught:
        parse_metadata(header)
    assert caught.value.status == 400
    assert caught.value.code == "tus.invalid_metadata"


def test_checksum_header_parsing():
    assert parse_checksum(checksum("sha1", b"x")) == ("sha1", hashlib.sha1(b"x").digest())
    assert parse_checksum(checksum("sha256", b"x"))[0] == "sha256"
    assert parse_checksum(None) is None
    for bad, code in [
        ("md5 AAAA", "tus.checksum_unsupported"),
        ("sha1", "tus.invalid_checksum"),
        ("sha1 !!!", "tus.invalid_checksum"),
        ("sha256 " + base64.b64encode(b"short").decode(), "tus.invalid_checksum"),
    ]:
        with pytest.raises(MediaError) as caught:
            parse_checksum(bad)
        assert caught.value.code == code
        assert caught.value.status == 400


def test_version_check():
    check_resumable("1.0.0")
    with pytest.raises(MediaError) as caught:
        check_resumable("0.2.2")
    assert caught.value.status == 412


def test_discovery_headers():
    headers = discovery_headers(1234)
    assert headers["Tus-Version"] == "1.0.0"
    assert headers["Tus-Max-Size"] == "1234"
    assert set(headers["Tus-Extension"].split(",")) == {
        "creation",
        "checksum",
        "termination",
        "expiration",
    }
    assert headers["Tus-Checksum-Algorithm"] == "sha1,sha256"


def test_upload_in_chunks_to_completion(tus, clock):
    session = create(tus)
    assert session.offset == 0 and not session.complete
    assert tus.spool_path(session.id).read_bytes() == b""
    offset = 0
    for i in range(0, len(DATA), 4000):
        chunk = DATA[i : i + 4000]
        clock.now += timedelta(minutes=1)
        session = patch(tus, session.id, offset, chunk, content_length=len(chunk))
        offset += len(chunk)
        assert session.offset == offset
        assert session.expires_at == clock.now + tus.ttl  # expiry slides with activity
    assert session.complete
    assert tus.get(session.id).offset == len(DATA)
    assert tus.spool_path(session.id).read_bytes() == DATA
    headers = session_headers(session)
    assert headers["Upload-Offset"] == str(len(DATA))
    assert headers["Upload-Expires"].endswith(" GMT")


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_checksum_verified_chunk_is_committed(tus, algorithm):
    session = create(tus)
    chunk = DATA[:5000]
    session = patch(tus, session.id, 0, chunk, checksum=checksum(algorithm, chunk))
    assert session.offset == 5000


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_checksum_mismatch_is_460_and_truncated_back(tus, algorithm):
    session = create(tus)
    patch(tus, session.id, 0, DATA[:3000])
    with pytest.raises(MediaError) as caught:
        patch(tus, session.id, 3000, DATA[3000:6000], checksum=checksum(algorithm, b"other"))
    assert caught.value.status == CHECKSUM_MISMATCH == 460
    assert caught.value.code == "tus.checksum_mismatch"
    assert tus.get(session.id).offset == 3000
    assert tus.spool_path(session.id).read_bytes() == DATA[:3000]
    # The client resends the same chunk correctly and carries on.
    assert patch(tus, session.id, 3000, DATA[3000:6000]).offset == 6000


def test_offset_mismatch_is_409(tus):
    session = create(tus)
    patch(tus, session.id, 0, DATA[:100])
    for wrong in (0, 50, 200):
        with pytest.raises(MediaError) as caught:
            patch(tus, session.id, wrong, DATA[wrong : wrong + 10])
        assert caught.value.status == 409
        assert caught.value.code == "tus.offset_mismatch"
    assert tus.spool_path(session.id).read_bytes() == DATA[:100]


def test_wrong_content_type_is_415(tus):
    session = create(tus)
    with pytest.raises(MediaError) as caught:
        patch(tus, session.id, 0, DATA[:10], content_type="image/jpeg")
    assert caught.value.status == 415


def test_overrunning_the_declared_length_is_413(tus):
    session = create(tus, length=100)
    with pytest.raises(MediaError) as caught:
        patch(tus, session.id, 0, DATA[:101], content_length=101)
    assert caught.value.status == 413
    # Without a Content-Length the overrun is noticed while streaming, and undone.
    with pytest.raises(MediaError) as caught:
        patch(tus, session.id, 0, DATA[:5000])
    assert caught.value.status == 413
    assert tus.get(session.id).offset == 0
    assert tus.spool_path(session.id).read_bytes() == b""


def test_creation_limits(tus):
    with pytest.raises(MediaError) as caught:
        create(tus, length=1_000_001)
    assert caught.value.status == 413
    assert caught.value.code == "tus.too_large"
    with pytest.raises(MediaError) as caught:
        tus.create(None, encode_metadata({"sha256": SHA}))
    assert caught.value.code == "tus.length_required"
    with pytest.raises(MediaError) as caught:
        tus.create("-5", encode_metadata({"sha256": SHA}))
    assert caught.value.status == 400
    with pytest.raises(MediaError) as caught:
        tus.create("0", encode_metadata({"sha256": SHA}))
    assert caught.value.code == "media.empty"
    # Regression: "²" and "١" pass str.isdigit(); "²" then crashed int() (a 500).
    for not_ascii in ("²", "\u0661\u0660", "1²"):
        with pytest.raises(MediaError) as caught:
            tus.create(not_ascii, encode_metadata({"sha256": SHA}))
        assert caught.value.code == "tus.invalid_upload_length"
    with pytest.raises(MediaError) as caught:
        tus.create("10", encode_metadata({"filename": "a.jpg"}))
    assert caught.value.code == "tus.sha256_required"
    with pytest.raises(MediaError) as caught:
        tus.create("10", encode_metadata({"sha256": "xyz"}))
    assert caught.value.code == "tus.sha256_required"


def test_sha256_metadata_is_normalised(tus):
    session = tus.create("10", encode_metadata({"sha256": SHA.upper()}))
    assert session.sha256 == SHA


class Interrupted(io.RawIOBase):
    """A request body whose client goes away after ``cut`` bytes."""

    def __init__(self, data: bytes, cut: int) -> None:
        self.data, self.cut, self.pos = data, cut, 0

    def read(self, size: int = -1) -> bytes:
        if self.pos >= self.cut:
            raise OSError("client disconnected")
        size = min(size, self.cut - self.pos)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk


def test_interrupted_chunk_keeps_what_arrived(tus):
    session = create(tus)
    with pytest.raises(MediaError) as caught:
        tus.append(session.id, offset="0", body=Interrupted(DATA, 4321), content_type=OCTETS)
    assert caught.value.code == "tus.interrupted"
    assert tus.get(session.id).offset == 4321
    # Resume from where the server says.
    assert patch(tus, session.id, 4321, DATA[4321:]).complete
    assert tus.spool_path(session.id).read_bytes() == DATA


def test_interrupted_chunk_with_checksum_is_discarded(tus):
    session = create(tus)
    with pytest.raises(MediaError):
        tus.append(
            session.id,
            offset="0",
            body=Interrupted(DATA, 4321),
            content_type=OCTETS,
            checksum=checksum("sha1", DATA),
        )
    assert tus.get(session.id).offset == 0
    assert tus.spool_path(session.id).read_bytes() == b""


def test_leftover_bytes_from_a_killed_request_are_dropped(tus):
    session = create(tus)
    patch(tus, session.id, 0, DATA[:1000])
    with open(tus.spool_path(session.id), "ab") as fp:
        fp.write(b"garbage from a request killed before it committed")
    patch(tus, session.id, 1000, DATA[1000:])
    assert tus.spool_path(session.id).read_bytes() == DATA


def test_concurrent_patch_on_one_upload_is_423(tus):
    session = create(tus)
    with open(tus.spool_path(session.id), "r+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        with pytest.raises(MediaError) as caught:
            patch(tus, session.id, 0, DATA[:10])
        assert caught.value.status == 423
    assert patch(tus, session.id, 0, DATA[:10]).offset == 10


def test_lost_compare_and_set_rolls_the_chunk_back(tus):
    session = create(tus)
    store = tus.store

    original = store.update_offset

    def racing(upload_id, expected, new, expires_at):
        # Another process committed first.
        original(upload_id, expected, expected + 7, expires_at)
        return original(upload_id, expected, new, expires_at)

    store.update_offset = racing
    with pytest.raises(MediaError) as caught:
        patch(tus, session.id, 0, DATA[:100])
    assert caught.value.status == 409
    assert tus.spool_path(session.id).stat().st_size == 0


def test_termination_removes_session_and_bytes(tus):
    session = create(tus)
    patch(tus, session.id, 0, DATA[:100])
    tus.terminate(session.id)
    assert not tus.spool_path(session.id).exists()
    with pytest.raises(MediaError) as caught:
        tus.get(session.id)
    assert caught.value.status == 404


@pytest.mark.parametrize(
    "bad_id", ["nope", "../../etc/passwd", "00000000-0000-0000-0000-000000000000"]
)
def test_unknown_upload_is_404(tus, bad_id):
    with pytest.raises(MediaError) as caught:
        tus.get(bad_id)
    assert caught.value.status == 404


def test_expired_upload_is_410_and_cleaned_up(tus, clock, tmp_path):
    old = create(tus)
    patch(tus, old.id, 0, DATA[:100])
    clock.now += timedelta(hours=23)
    fresh = create(tus)
    clock.now += timedelta(hours=2)
    with pytest.raises(MediaError) as caught:
        patch(tus, old.id, 100, DATA[100:200])
    assert caught.value.status == 410
    orphan = tus.spool_path("11111111-1111-1111-1111-111111111111")
    orphan.write_bytes(b"orphan")
    import os

    stale = (clock.now - timedelta(days=3)).timestamp()
    os.utime(orphan, (stale, stale))
    assert tus.cleanup() == 2
    assert not tus.spool_path(old.id).exists()
    assert not orphan.exists()
    assert tus.get(fresh.id).offset == 0
    assert tus.spool_path(fresh.id).exists()


def test_http_date_format():
    assert http_date(datetime(2026, 11, 29, 8, 0, tzinfo=UTC)) == "Sun, 29 Nov 2026 08:00:00 GMT"


def test_retried_final_patch_of_a_completed_upload_is_answered(tus):
    session = create(tus, length=10)
    patch(tus, session.id, 0, DATA[:10])
    tus.store.sessions[session.id].completed = True
    tus.spool_path(session.id).unlink()
    again = patch(tus, session.id, 10, b"")
    assert again.offset == 10 and again.completed
