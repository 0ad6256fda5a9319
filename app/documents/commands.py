"""What a device sends to sign a document (pure: the sync mutation and the upload build it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

#: Who signs: one of the inspection's officers, or the enterprise's person on site.
SIGNER_ROLES = ("inspector", "representative")
#: The largest signature image accepted (bytes), and its largest side (pixels).
MAX_SIGNATURE_BYTES = 256 * 1024
MAX_SIGNATURE_SIDE = 2400


@dataclass(frozen=True)
class DocumentSign:
    """``document.sign``: a handwritten signature captured on the device, or a refusal."""

    document_id: uuid.UUID
    role: str
    signer_name: str
    signed_at: datetime
    #: PNG (or JPEG) bytes of the signature; None for a refusal
    image: bytes | None = None
    #: the officer signing (role inspector); the pushing inspector when None
    signer_id: uuid.UUID | None = None
    refused: bool = False
    witness_name: str = ""
    place: str = ""
    lat: float | None = None
    lon: float | None = None
    accuracy: float | None = None
