"""The near-duplicate index: bands written when a photo is stored, pairs found through them."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select

from app.db import session
from app.media.models import MediaNearDuplicate, MediaObject, MediaPhashBand
from app.media.near import index_photo
from media.phash import BANDS, NEAR_DUPLICATE_BITS, band_keys, probe_keys
from media.processing import PHASH_VERSION
from tests.media.media_samples import encode, exif_bytes, phash_v1, picture

INDEX_REVISION = "8aafcbd05022"  # migrations/versions/…_media_near_duplicate_index.py
hashes = st.integers(min_value=0, max_value=2**64 - 1)
flips = st.sets(st.integers(min_value=0, max_value=63), max_size=NEAR_DUPLICATE_BITS)


@given(hashes, flips)
def test_a_near_duplicate_always_holds_one_of_the_probe_keys(value, bits):
    """The pigeonhole the index rests on: within NEAR_DUPLICATE_BITS, some band is close."""
    a = f"{value:016x}"
    b = f"{value ^ sum(1 << i for i in bits):016x}"
    assert set(band_keys(b)) & set(probe_keys(a))


def test_probe_keys_are_the_bands_and_their_two_bit_neighbours():
    keys = probe_keys("0123456789abcdef")
    assert len(keys) == BANDS * (1 + 16 + 120) == len(set(keys))
    assert set(band_keys("0123456789abcdef")) <= set(keys)


def _put(client, headers, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    resp = client.put(f"/api/v1/media/{digest}", data=data, headers=headers)
    assert resp.status_code == 201, resp.json
    return digest


def test_storing_a_photo_pairs_it_with_its_stored_near_copies(app, client, make, login):
    headers = login(make.user("inspector", jurisdiction="huayanglu"))
    original = picture((1600, 1200), seed=7)
    first = _put(client, headers, encode(original, "JPEG", quality=92))
    other = _put(client, headers, encode(picture((1600, 1200), seed=8), "JPEG", quality=92))
    copy = original.resize((640, 480), Image.Resampling.BILINEAR)
    again = _put(client, headers, encode(copy, "JPEG", quality=55))  # the same scene, resent

    with app.app_context():
        pairs = set(session.execute(select(MediaNearDuplicate.sha256, MediaNearDuplicate.other)))
        bands = session.scalars(select(MediaPhashBand.sha256)).all()
    assert pairs == {(first, again), (again, first)}
    assert sorted(bands) == sorted([first] * BANDS + [other] * BANDS + [again] * BANDS)


def test_a_photo_hashed_under_version_1_still_pairs_with_its_copy_sent_now(
    app, client, make, login
):
    """A reused photo ingested before the pipeline changed is still found (PHASH_VERSION)."""
    headers = login(make.user("inspector", jurisdiction="huayanglu"))
    scene = picture((2400, 1800), seed=11)
    earlier = encode(scene, "JPEG", exif=exif_bytes(orientation=6), quality=92)
    old = hashlib.sha256(earlier).hexdigest()
    with app.app_context():  # stored and indexed as version 1 stored it
        session.add(
            MediaObject(
                sha256=old,
                size=len(earlier),
                content_type="image/jpeg",
                width=1800,
                height=2400,
                exif=None,
                phash=phash_v1(earlier),
                phash_version=1,
            )
        )
        index_photo(old, phash_v1(earlier))
        session.commit()
    # The same scene sent again, recompressed: hashed by today's pipeline.
    again = _put(client, headers, encode(scene, "JPEG", exif=exif_bytes(orientation=6), quality=70))

    with app.app_context():
        pairs = set(session.execute(select(MediaNearDuplicate.sha256, MediaNearDuplicate.other)))
        rows = session.execute(select(MediaObject.sha256, MediaObject.phash_version))
        versions = {sha: version for sha, version in rows}
    assert pairs == {(old, again), (again, old)}
    assert versions == {old: 1, again: PHASH_VERSION}


def test_the_migration_indexes_the_photos_already_stored(tmp_path):
    """Upgrading a database that holds photos pairs its near-copies (and only those)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text

    from app.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    index = ScriptDirectory.from_config(alembic_config(url)).get_revision(INDEX_REVISION)
    upgrade(url, str(index.down_revision))  # the revision before the index
    photos = {
        "a" * 64: "00ff000000000007",
        "b" * 64: "00ff000000000000",
        "c" * 64: "ff00ff00ff00ff00",
    }
    engine = create_engine(url)
    with engine.begin() as conn:
        for digest, ph in photos.items():
            conn.execute(
                text(
                    "INSERT INTO media_objects (sha256, size, content_type, width, height, phash, "
                    "created_at) VALUES (:s, 1, 'image/jpeg', 1, 1, :p, '2026-01-01 00:00:00')"
                ),
                {"s": digest, "p": ph},
            )
    upgrade(url)
    with engine.connect() as conn:
        pairs = set(conn.execute(text("SELECT sha256, other FROM media_near_duplicates")))
        bands = conn.execute(text("SELECT count(*) FROM media_phash_bands")).scalar()
    engine.dispose()
    assert pairs == {("a" * 64, "b" * 64), ("b" * 64, "a" * 64)}
    assert bands == 3 * BANDS
