"""The near-duplicate index: which stored photos are (almost) the same picture.

A photo is indexed once, when it is stored (:func:`index_photo`, called by the one writer of
``MediaObject``): its perceptual-hash bands go into ``media_phash_bands``, the stored photos
within ``NEAR_DUPLICATE_BITS`` of it are found through those bands (multi-index hashing,
``media.phash``), and each pair is written both ways into ``media_near_duplicates``. Readers (the
review queue's ``photo_reused`` flag) then look pairs up by primary key: their cost does not
grow with the number of photos stored.

Two near-copies stored at the same instant by concurrent transactions do not see each other's
uncommitted bands and are not paired; a reused photo is an *old* photo sent again, which is
stored (and indexed) long before its copy arrives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import ARRAY, Integer, and_, any_, bindparam, insert, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.db import on_postgresql, session
from app.media.models import MediaNearDuplicate, MediaObject, MediaPhashBand
from media.phash import band_keys, is_near_duplicate, probe_keys


def index_photo(sha256: str, phash: str) -> None:
    """Index a newly stored photo and pair it with the stored photos it nearly duplicates."""
    if not phash or len(phash) != 16:
        return
    session.execute(
        insert(MediaPhashBand),
        [{"band": band, "key": key, "sha256": sha256} for band, key in band_keys(phash)],
    )
    pairs = [
        row
        for other in near_candidates(phash, exclude=sha256)
        for row in ({"sha256": sha256, "other": other}, {"sha256": other, "other": sha256})
    ]
    if pairs:
        session.execute(insert(MediaNearDuplicate), pairs)


def near_candidates(phash: str, *, exclude: str | None = None) -> list[str]:
    """Return the stored photos within ``NEAR_DUPLICATE_BITS`` of ``phash`` (via the bands)."""
    probes: dict[int, list[int]] = defaultdict(list)
    for band, key in probe_keys(phash):
        probes[band].append(key)
    b = MediaPhashBand
    stmt = (
        select(MediaObject.sha256, MediaObject.phash)
        .join(b, b.sha256 == MediaObject.sha256)
        .where(or_(*(_in_band(band, keys) for band, keys in probes.items())))
        .distinct()
    )
    return sorted(
        sha
        for sha, other in session.execute(stmt)
        if sha != exclude and other and len(other) == 16 and is_near_duplicate(phash, other)
    )


def _in_band(band: int, keys: list[int]) -> ColumnElement[bool]:
    """``band`` and a key among ``keys`` (137 of them a band).

    On PostgreSQL one array parameter a band, so the statement has 8 parameters instead of 552
    (psycopg caches the parsing of a statement only up to 50) and is answered by index probes
    all the same; elsewhere ``IN``.
    """
    b = MediaPhashBand
    if on_postgresql():
        keys_param = bindparam(f"band_{band}_keys", keys, type_=ARRAY(Integer))
        return and_(b.band == band, b.key == any_(keys_param))
    return and_(b.band == band, b.key.in_(keys))


def near_duplicates(hashes: Iterable[str]) -> dict[str, set[str]]:
    """Return, for each of ``hashes`` that has any, the other stored photos nearly the same."""
    wanted = sorted(set(hashes))
    out: dict[str, set[str]] = defaultdict(set)
    if not wanted:
        return out
    d = MediaNearDuplicate
    for sha, other in session.execute(select(d.sha256, d.other).where(d.sha256.in_(wanted))):
        out[sha].add(other)
    return out


__all__ = ["index_photo", "near_candidates", "near_duplicates"]
