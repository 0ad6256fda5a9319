"""Issue, reissue, sign, list and verify the enforcement documents (执法文书).

A document is issued from the record of an inspection (``app.documents.render`` gathers it,
``app.documents.content`` words it, ``app.documents.pdf`` draws it). Its 文号 is allocated at the
first issue (``app.documents.numbering``) and kept by every later version; a reissue, after the
record changed or a signature was added, makes version n+1 and keeps version n, which stays
verifiable. Issuing again from an unchanged record gives back the current version. Every
version's PDF SHA-256 goes on the audit chain (``document.issue``); the public verification
page and :func:`verify_document` compare a copy against it.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.audit.services import record
from app.changelog import record_change
from app.db import session
from app.documents import render
from app.documents.commands import MAX_SIGNATURE_BYTES, MAX_SIGNATURE_SIDE, DocumentSign
from app.documents.content import build, number_text
from app.documents.fonts import FontMissing
from app.documents.models import DOCUMENT_KINDS, Document, DocumentSignature
from app.documents.numbering import allocate_document_number
from app.errors import DomainError, not_found
from app.hazards.models import Hazard, RecheckItem
from app.hazards.services import get_hazard
from app.i18n import _
from app.inspections.models import Finding, Inspection
from app.inspections.services import get_inspection, inspections_query
from app.org.models import User
from app.settings import get_settings

#: Who may issue documents (the enterprise only reads its own).
ISSUERS = ("inspector", "supervisor", "coordinator", "admin")
#: The alphabet of verification codes: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10


def new_code() -> str:
    """Return a fresh verification code (about 49 bits: not guessable, short to type)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _n in range(CODE_LENGTH))


def _current(inspection_id: uuid.UUID, kind: str) -> Document | None:
    stmt = (
        select(Document)
        .where(
            Document.inspection_id == inspection_id,
            Document.kind == kind,
            Document.current.is_(True),
        )
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def _check_issuable(insp: Inspection, kind: str) -> None:
    """Refuse a document the record does not (yet) call for."""
    if insp.check_in_at is None:
        raise DomainError(
            "document.not_checked_in",
            409,
            _("Documents are issued once the inspection is checked in on site."),
        )
    if kind == "rectification_order" and not render.order_hazards(insp):
        raise DomainError(
            "document.nothing_to_order",
            409,
            _("This inspection has no hazard ticket to order rectified; confirm a finding first."),
        )
    if kind == "onsite_measures":
        measured = session.execute(
            select(Finding.id, Finding.measures).where(
                Finding.inspection_id == insp.id, Finding.deleted.is_(False)
            )
        ).all()
        if not any(m for _id, m in measured):
            raise DomainError(
                "document.nothing_to_decide",
                409,
                _("No finding of this inspection records measures taken on the spot."),
            )
    if kind == "recheck_opinion" and not render.rechecked(insp):
        raise DomainError(
            "document.nothing_to_recheck",
            409,
            _("This inspection has no recheck result yet; record the recheck of a ticket first."),
        )


def _hazard_ids(insp: Inspection, kind: str) -> list[str]:
    if kind in ("rectification_order", "onsite_measures"):
        return sorted(str(h.id) for h in render.order_hazards(insp))
    if kind == "recheck_opinion":
        return sorted(str(h.id) for _item, h in render.rechecked(insp))
    return []


def _publish(
    insp: Inspection,
    kind: str,
    actor: User | None,
    now: datetime,
    previous: Document | None,
) -> Document:
    """Issue version 1, or the next version of ``previous``, unless its content is unchanged."""
    if previous is not None:
        department, year, seq = previous.department_code, previous.year, previous.seq
        number, code = previous.number, previous.code
        unchanged = render.gather(insp, kind, number, code, department)
        if build(unchanged).as_dict() == previous.content:
            return previous
    else:
        department = (actor.department_code if actor else None) or (
            get_settings().responsible_department(insp.industry)
        )
        year, seq = allocate_document_number(department, kind, now)
        number = number_text(render.department_name(department), kind, year, seq)
    code = new_code()
    content = build(render.gather(insp, kind, number, code, department))
    try:
        pdf = render.render(content)
    except FontMissing as exc:
        raise DomainError(
            "document.font_missing",
            503,
            _(
                "The documents' font AR PL UMing is not installed (%(path)s); "
                "run make fonts on the server.",
                path=exc.path,
            ),
        ) from exc
    sha = hashlib.sha256(pdf).hexdigest()
    if previous is not None:
        previous.current = False
        session.flush()
    doc = Document(
        id=uuid.uuid4(),
        kind=kind,
        inspection_id=insp.id,
        enterprise_id=insp.enterprise_id,
        jurisdiction_code=insp.jurisdiction_code,
        department_code=department,
        year=year,
        seq=seq,
        number=number,
        version=previous.version + 1 if previous else 1,
        current=True,
        hazard_ids=_hazard_ids(insp, kind),
        content=content.as_dict(),
        code=code,
        sha256=sha,
        pdf=pdf,
        size=len(pdf),
        issued_at=now,
        issued_by=actor.id if actor else None,
        created_at=now,
    )
    session.add(doc)
    session.flush()
    record(
        "document.issue",
        "document",
        doc.id,
        {
            "kind": kind,
            "number": number,
            "version": doc.version,
            "inspection_id": str(insp.id),
            "code": code,
            "sha256": sha,
            "supersedes": str(previous.id) if previous else None,
        },
        actor=actor,
    )
    record_change("inspection", insp)  # the device's feed re-sends it with its documents
    return doc


def _lock(insp: Inspection) -> None:
    """Lock the inspection's row: its documents are issued and signed one at a time."""
    session.execute(select(Inspection.id).where(Inspection.id == insp.id).with_for_update())


def issue_document(actor: User, inspection_id: uuid.UUID, kind: str, *, now: datetime) -> Document:
    """Issue the document of ``kind`` for an inspection, or reissue it if the record changed."""
    if actor.role not in ISSUERS:
        raise DomainError("auth.forbidden", 403, _("Only enforcement staff issue documents."))
    if kind not in DOCUMENT_KINDS:
        raise not_found("document")
    insp = get_inspection(actor, inspection_id, via="documents", now=now)
    # Two issues of one document at once make one version: the second waits, then finds it.
    _lock(insp)
    _check_issuable(insp, kind)
    return _publish(insp, kind, actor, now, _current(insp.id, kind))


def _visible(user: User, doc: Document, now: datetime) -> Document:
    get_inspection(user, doc.inspection_id, via="documents", now=now)
    return doc


def get_document(user: User, document_id: uuid.UUID, *, now: datetime) -> Document:
    """Return one version of a document the caller may see (its inspection's rule), or 404."""
    doc = session.get(Document, document_id)
    if doc is None:
        raise not_found("document")
    try:
        return _visible(user, doc, now)
    except DomainError as exc:
        raise not_found("document") from exc


def list_inspection_documents(
    user: User, inspection_id: uuid.UUID, *, now: datetime, all_versions: bool = False
) -> list[Document]:
    """List the documents of an inspection the caller may see (current versions by default)."""
    insp = get_inspection(user, inspection_id, via="documents", now=now)
    stmt = select(Document).where(Document.inspection_id == insp.id)
    if not all_versions:
        stmt = stmt.where(Document.current.is_(True))
    return _ordered(session.execute(stmt).scalars())


def list_hazard_documents(
    user: User, hazard_id: uuid.UUID, *, now: datetime, all_versions: bool = False
) -> list[Document]:
    """List the documents that name a ticket the caller may see."""
    hazard = get_hazard(user, hazard_id, now=now)
    docs = documents_for_hazards([hazard], all_versions=all_versions)
    return docs.get(hazard.id, [])


def list_enterprise_documents(
    user: User, enterprise_id: uuid.UUID | None, *, now: datetime, limit: int = 200
) -> list[Document]:
    """List the current documents of an enterprise's inspections the caller may see, newest
    first (one statement; an enterprise account passes its own enterprise)."""
    visible = (
        inspections_query(user, {"enterprise_id": enterprise_id}, now=now)
        .with_only_columns(Inspection.id)
        .order_by(None)
    )
    stmt = (
        select(Document)
        .where(Document.inspection_id.in_(visible.scalar_subquery()), Document.current.is_(True))
        .order_by(Document.issued_at.desc(), Document.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _ordered(docs: Iterable[Document]) -> list[Document]:
    rank = {k: n for n, k in enumerate(DOCUMENT_KINDS)}
    return sorted(docs, key=lambda d: (rank[d.kind], d.issued_at, d.version))


def documents_for_inspections(ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Document]]:
    """Return the current documents of each inspection (one query for all)."""
    out: dict[uuid.UUID, list[Document]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = select(Document).where(Document.inspection_id.in_(ids), Document.current.is_(True))
    for doc in _ordered(session.execute(stmt).scalars()):
        out[doc.inspection_id].append(doc)
    return out


def documents_for_hazards(
    hazards: Sequence[Hazard], all_versions: bool = False
) -> dict[uuid.UUID, list[Document]]:
    """Return the documents naming each ticket: its inspection's and its rechecks' (one query)."""
    ids = [h.id for h in hazards]
    visits: set[uuid.UUID] = {h.inspection_id for h in hazards if h.inspection_id}
    if ids:
        visits.update(
            session.execute(
                select(RecheckItem.inspection_id).where(RecheckItem.hazard_id.in_(ids))
            ).scalars()
        )
    out: dict[uuid.UUID, list[Document]] = {i: [] for i in ids}
    if not visits:
        return out
    stmt = select(Document).where(Document.inspection_id.in_(visits))
    if not all_versions:
        stmt = stmt.where(Document.current.is_(True))
    docs = _ordered(session.execute(stmt).scalars())
    for h in hazards:
        out[h.id] = [
            d
            for d in docs
            if str(h.id) in (d.hazard_ids or [])
            or (d.kind == "inspection_record" and d.inspection_id == h.inspection_id)
        ]
    return out


def attach_documents(inspections: Sequence[Inspection]) -> Sequence[Inspection]:
    """Set ``documents`` on each inspection for its payload (one query for all)."""
    by_inspection = documents_for_inspections([i.id for i in inspections])
    for insp in inspections:
        insp.documents = by_inspection.get(insp.id, [])  # type: ignore[attr-defined]
    return inspections


def attach_hazard_documents(hazards: Sequence[Hazard]) -> Sequence[Hazard]:
    """Set ``documents`` on each ticket for its payload (one query for all)."""
    by_hazard = documents_for_hazards(hazards)
    for h in hazards:
        h.documents = by_hazard.get(h.id, [])  # type: ignore[attr-defined]
    return hazards


# --------------------------------------------------------------------------- signatures


def _check_image(data: bytes) -> str:
    """Return the SHA-256 of a signature image, refusing anything but a small PNG or JPEG."""
    bad = DomainError(
        "document.bad_signature",
        422,
        _("The signature must be a PNG or JPEG image of at most %(kb)s KB.", kb=256),
        {"image": [_("Not a PNG or JPEG image of at most %(kb)s KB.", kb=256)]},
    )
    if not data or len(data) > MAX_SIGNATURE_BYTES:
        raise bad
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in ("PNG", "JPEG"):
                raise bad
            if max(im.size) > MAX_SIGNATURE_SIDE or min(im.size) < 1:
                raise bad
            im.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise bad from exc
    return hashlib.sha256(data).hexdigest()


#: what a version adds when a signature reissues it: the signature lines and its own code
_SIGNATURE_PARTS = frozenset({"slots", "verify_url", "verify_text"})


def _only_signed_since(doc: Document, current: Document) -> bool:
    """Return whether ``current`` says what ``doc`` says but for signatures (and its code)."""

    def said(d: Document) -> dict[str, Any]:
        return {k: v for k, v in (d.content or {}).items() if k not in _SIGNATURE_PARTS}

    return said(doc) == said(current)


def sign_document(actor: User, sign: DocumentSign, *, now: datetime) -> Document:
    """Record a signature (or a representative's refusal, with a witness) and reissue.

    Only an officer of the inspection's team captures signatures (on their device). The new
    version carries every signature given so far; the signed one is kept.
    """
    doc = session.get(Document, sign.document_id)
    if doc is None:
        raise not_found("document")
    insp = get_inspection(actor, doc.inspection_id, via="documents", now=now)
    if actor.id not in insp.inspector_ids:
        raise DomainError(
            "document.not_on_team",
            403,
            _("Only an officer of the inspection's team captures signatures."),
        )
    _lock(insp)
    current = _current(insp.id, doc.kind)
    if current is not None and current.id != doc.id and _only_signed_since(doc, current):
        # Signatures captured together offline all name the version the device holds; the
        # later versions only carry the signatures pushed before this one, so it joins them.
        doc = current
    if current is None or current.id != doc.id:
        raise DomainError(
            "document.superseded",
            409,
            _("A later version of this document exists; sign the current one."),
            current_id=str(current.id) if current else None,
        )
    if sign.role == "inspector":
        signer_id = sign.signer_id or actor.id
        if signer_id not in insp.inspector_ids:
            raise DomainError(
                "document.signer_not_on_team",
                422,
                _("An officer's signature must be of an officer of the inspection's team."),
                {"signer_id": [_("Not an officer of this inspection.")]},
            )
        key: str = str(signer_id)
        if sign.refused:
            raise DomainError(
                "validation_error",
                422,
                _("The request has invalid fields; see errors."),
                {"refused": [_("Only the enterprise's representative may refuse to sign.")]},
            )
    else:
        signer_id, key = None, "representative"
    image_sha = None
    if sign.refused:
        if not sign.witness_name.strip():
            raise DomainError(
                "document.refusal_needs_witness",
                422,
                _("A refusal to sign is recorded with the name of its witness."),
                {"witness_name": [_("Missing data for required field.")]},
            )
    else:
        if sign.image is None:
            raise DomainError(
                "document.bad_signature",
                422,
                _("Send the signature image, or record a refusal with its witness."),
                {"image": [_("Missing data for required field.")]},
            )
        image_sha = _check_image(sign.image)
    row = session.execute(
        select(DocumentSignature).where(
            DocumentSignature.inspection_id == insp.id,
            DocumentSignature.kind == doc.kind,
            DocumentSignature.role == sign.role,
            DocumentSignature.signer_key == key,
        )
    ).scalar_one_or_none()
    if row is None:
        row = DocumentSignature(
            inspection_id=insp.id, kind=doc.kind, role=sign.role, signer_key=key
        )
        session.add(row)
    row.signer_id = signer_id
    row.signer_name = sign.signer_name
    row.image = None if sign.refused else sign.image
    row.image_sha256 = image_sha
    row.refused = sign.refused
    row.witness_name = sign.witness_name or None
    row.signed_at = sign.signed_at
    row.place = sign.place
    row.location = (
        {"lat": sign.lat, "lon": sign.lon, "accuracy": sign.accuracy}
        if sign.lat is not None and sign.lon is not None
        else None
    )
    row.recorded_by = actor.id
    row.received_at = now
    session.flush()
    record(
        "document.sign",
        "document",
        doc.id,
        {
            "role": sign.role,
            "signer_id": str(signer_id) if signer_id else None,
            "signer_name": sign.signer_name,
            "signed_at": sign.signed_at,
            "place": sign.place,
            "location": row.location,
            "refused": sign.refused,
            "witness_name": sign.witness_name or None,
            "image_sha256": image_sha,
        },
        actor=actor,
    )
    return _publish(insp, doc.kind, actor, now, current)


# --------------------------------------------------------------------------- verification


def public_document(code: str) -> Document:
    """Return the version a verification code names, or 404 (anyone may ask)."""
    doc = session.execute(
        select(Document).where(Document.code == code.upper())
    ).scalar_one_or_none()
    if doc is None:
        raise not_found("document")
    return doc


def chained_sha256(doc: Document) -> str | None:
    """Return the SHA-256 the audit chain recorded when this version was issued."""
    data = session.execute(
        select(AuditEntry.data).where(
            AuditEntry.action == "document.issue",
            AuditEntry.entity_type == "document",
            AuditEntry.entity_id == str(doc.id),
        )
    ).scalar_one_or_none()
    return data.get("sha256") if isinstance(data, dict) else None


def latest_version(doc: Document) -> Document:
    """Return the current version of ``doc``'s document."""
    return _current(doc.inspection_id, doc.kind) or doc


def verify_document(code: str, data: bytes) -> dict[str, Any]:
    """Tell whether ``data`` is, byte for byte, the PDF the code names (as the chain says)."""
    if not data:
        raise DomainError("document.no_file", 422, _("Send the PDF to check as the request body."))
    doc = public_document(code)
    sha = hashlib.sha256(data).hexdigest()
    chained = chained_sha256(doc)
    return {
        "genuine": sha == doc.sha256 and chained == doc.sha256,
        "sha256": sha,
        "expected_sha256": chained,
        "document": doc,
    }
