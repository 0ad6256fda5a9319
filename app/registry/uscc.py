"""统一社会信用代码 (GB 32100-2015): the check character, and generation for demo data."""

from __future__ import annotations

import random

# GB 32100-2015 code alphabet: digits and capitals without I, O, S, V, Z.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def check_character(first17: str) -> str:
    """Return the 18th (check) character for the first 17 characters of a USCC."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def valid_uscc(code: str) -> bool:
    """Tell whether `code` is an 18-character USCC with a correct check character."""
    if not isinstance(code, str) or len(code) != 18:
        return False
    code = code.upper()
    if any(c not in _VALUE for c in code):
        return False
    return check_character(code[:17]) == code[17]


def make_uscc(rng: random.Random, region: str = "310105") -> str:
    """Build a valid USCC for an enterprise registered in `region` (310105 = 长宁区)."""
    # 1 = 工商 registration authority, 1 = 企业; then the 6-digit region code, a 9-char
    # organisation code (its own check digit is not enforced by GB 32100's 18th character).
    body = "91" + region + "".join(rng.choice(ALPHABET) for _ in range(9))
    return body + check_character(body)
