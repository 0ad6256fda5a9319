"""Helpers the review flags use to compare a photo's EXIF evidence with an inspection.

The thresholds belong to the review rules; these functions only measure.
"""

from __future__ import annotations

import math
from datetime import datetime

from media.phash import NEAR_DUPLICATE_BITS, hamming, is_near_duplicate

__all__ = [
    "NEAR_DUPLICATE_BITS",
    "distance_m",
    "hamming",
    "is_near_duplicate",
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
