"""Helpers the review flags use to compare a photo's EXIF evidence with an inspection.

The thresholds belong to the review rules; these functions only measure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from media.phash import NEAR_DUPLICATE_BITS, hamming, is_near_duplicate

__all__ = [
    "NEAR_DUPLICATE_BITS",
    "distance_m",
    "exif_distance_m",
    "exif_seconds_from",
    "exif_taken_at",
    "hamming",
    "is_near_duplicate",
    "near_duplicates",
    "seconds_apart",
]

_EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle (haversine) distance in metres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def seconds_apart(a: datetime, b: datetime) -> float:
    """Return the absolute number of seconds between two aware datetimes."""
    if a.tzinfo is None or b.tzinfo is None:
        raise ValueError("compare aware datetimes only")
    return abs((a - b).total_seconds())


def near_duplicates(
    target: str, candidates: Iterable[tuple[str, str]], max_bits: int = NEAR_DUPLICATE_BITS
) -> list[tuple[str, int]]:
    """Return ``(sha256, distance)`` of candidates ``(sha256, phash)`` close to ``target``."""
    found = []
    for sha256, other in candidates:
        bits = hamming(target, other)
        if bits <= max_bits:
            found.append((sha256, bits))
    return sorted(found, key=lambda item: item[1])


# The helpers below read the stored JSON shape {taken_at, gps: {lat, lon, alt}, make, model}
# (MediaObject.exif); each answers None when the photo cannot tell.


def exif_taken_at(exif: Mapping[str, Any] | None) -> datetime | None:
    """Return the EXIF capture time (aware, UTC) from the stored JSON, or None."""
    text = (exif or {}).get("taken_at")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def exif_seconds_from(exif: Mapping[str, Any] | None, moment: datetime) -> float | None:
    """Return how many seconds the photo was taken before or after ``moment``, or None."""
    taken = exif_taken_at(exif)
    return seconds_apart(taken, moment) if taken is not None else None


def exif_distance_m(exif: Mapping[str, Any] | None, lat: float, lon: float) -> float | None:
    """Return the distance in metres from the photo's EXIF GPS to a point, or None."""
    gps = (exif or {}).get("gps")
    if not isinstance(gps, Mapping):
        return None
    try:
        return distance_m(float(gps["lat"]), float(gps["lon"]), lat, lon)
    except (KeyError, TypeError, ValueError):
        return None
