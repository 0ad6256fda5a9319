"""A 64-bit DCT perceptual hash in pure Python on top of Pillow.

Close copies of one photo (resized, recompressed, slightly recoloured) land a few bits
apart; different photos land around 32 bits apart. numpy is deliberately not needed:
only an 8×8 corner of the 32×32 DCT is computed, which is about ten thousand multiplications.
"""

from __future__ import annotations

import math

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
