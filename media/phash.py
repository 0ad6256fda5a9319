"""A 64-bit DCT perceptual hash in pure Python on top of Pillow.

Close copies of one photo (resized, recompressed, slightly recoloured) land a few bits
apart; different photos land around 32 bits apart. numpy is deliberately not needed:
only an 8×8 corner of the 32×32 DCT is computed, which is about ten thousand multiplications.
"""

from __future__ import annotations

import math
from itertools import combinations

from PIL import Image

_N = 32  # side of the downscaled grayscale image
_K = 8  # side of the low-frequency block kept (64 bits)
_COS = [[math.cos(math.pi * (2 * x + 1) * u / (2 * _N)) for x in range(_N)] for u in range(_K)]

#: Hamming distance at or under which two hashes count as the same photo.
NEAR_DUPLICATE_BITS = 10


def phash(image: Image.Image) -> str:
    """Return the perceptual hash of ``image`` as 16 lower-case hex digits."""
    gray = image.convert("L").resize((_N, _N), Image.Resampling.LANCZOS)
    data = gray.tobytes()  # one byte per pixel in mode L
    rows = [data[y * _N : (y + 1) * _N] for y in range(_N)]
    # Separable DCT-II: first along rows (keeping 8 frequencies), then along columns.
    row_freq = [
        [sum(c * p for c, p in zip(_COS[u], row, strict=True)) for u in range(_K)] for row in rows
    ]
    coeffs = [
        sum(_COS[v][y] * row_freq[y][u] for y in range(_N)) for v in range(_K) for u in range(_K)
    ]
    median = sorted(coeffs)[len(coeffs) // 2 - 1 : len(coeffs) // 2 + 1]
    threshold = (median[0] + median[1]) / 2
    bits = 0
    for c in coeffs:
        bits = (bits << 1) | (1 if c > threshold else 0)
    return f"{bits:016x}"


def hamming(a: str, b: str) -> int:
    """Count the differing bits of two 16-hex-digit perceptual hashes."""
    if len(a) != 16 or len(b) != 16:
        raise ValueError("perceptual hashes are 16 hex digits")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def is_near_duplicate(a: str, b: str, max_bits: int = NEAR_DUPLICATE_BITS) -> bool:
    """Tell whether two perceptual hashes are close enough to be the same photo."""
    return hamming(a, b) <= max_bits


# --------------------------------------------------------------------------- the index
# Multi-index hashing: the 64 bits are cut into BANDS bands of 16. Two hashes at most
# NEAR_DUPLICATE_BITS apart differ in at least one band by at most PROBE_RADIUS bits
# (pigeonhole: 4 bands × 3 bits would already be 12 > 10). So a photo's near-duplicates are all
# among the stored photos that share, in some band, one of the keys within PROBE_RADIUS of its
# own: 4 × 137 keys, each matching about 1 in 65,536 photos, looked up in an index.

BANDS = 4
BAND_BITS = 64 // BANDS
PROBE_RADIUS = NEAR_DUPLICATE_BITS // BANDS
_MASK = (1 << BAND_BITS) - 1
#: Every BAND_BITS-bit mask of at most PROBE_RADIUS set bits (0 first): 1 + 16 + 120.
_FLIPS = [
    sum(1 << b for b in bits)
    for r in range(PROBE_RADIUS + 1)
    for bits in combinations(range(BAND_BITS), r)
]


def band_keys(phash_hex: str) -> list[tuple[int, int]]:
    """Return the hash's (band, key) pairs: what the index stores for a photo."""
    value = int(phash_hex, 16)
    return [(band, (value >> (band * BAND_BITS)) & _MASK) for band in range(BANDS)]


def probe_keys(phash_hex: str) -> list[tuple[int, int]]:
    """Return every (band, key) a near-duplicate of ``phash_hex`` has at least one of."""
    return [(band, key ^ flip) for band, key in band_keys(phash_hex) for flip in _FLIPS]
