"""Routes: issue, read, sign and verify the enforcement documents (docs/documents.md)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from flask.views import MethodView

from app.auth.caller import current_user, public
from app.documents import services
from app.documents.commands import DocumentSign
from app.documents.schemas import (
    DocumentCreateSchema,
    DocumentQueryArgsSchema,
    DocumentSchema,
    PublicDocumentSchema,
    SignatureCreateSchema,
    VerificationSchema,
)
from app.http import Blueprint, file_response, request_now

blp = Blueprint("documents", __name__, description="Enforcement documents (执法文书)")


@blp.route("/inspections/<uuid:inspection_id>/documents")
class InspectionDocuments(MethodView):
    @blp.arguments(DocumentQueryArgsSchema, location="query")
    @blp.response(200, DocumentSchema(many=True))
    def get(self, args: dict[str, Any], inspection_id: uuid.UUID) -> Any:
        """List an inspection's documents (staff in scope; the enterprise its own)."""
        return services.list_inspection_documents(
            current_user(), inspection_id, now=request_now(), all_versions=args["all_versions"]
        )

    @blp.arguments(DocumentCreateSchema)
    @blp.response(201, DocumentSchema)
    def post(self, data: dict[str, Any], inspection_id: uuid.UUID) -> Any:
        """Issue a document from the record, or reissue it as a new version if the record changed.

        The number is allocated at the first issue and kept; an unchanged record gives back
        the current version.
        """
        return services.issue_document(
            current_user(), inspection_id, data["kind"], now=request_now()
        )


@blp.route("/hazards/<uuid:hazard_id>/documents")
@blp.arguments(DocumentQueryArgsSchema, location="query")
@blp.response(200, DocumentSchema(many=True))
def hazard_documents(args: dict[str, Any], hazard_id: uuid.UUID) -> Any:
    """List the documents naming a ticket (its inspection's record, order, decision; rechecks)."""
    return services.list_hazard_documents(
        current_user(), hazard_id, now=request_now(), all_versions=args["all_versions"]
    )


@blp.route("/documents/<uuid:document_id>")
@blp.response(200, DocumentSchema)
def document(document_id: uuid.UUID) -> Any:
    """Return one version of a document."""
    return services.get_document(current_user(), document_id, now=request_now())


@blp.route("/documents/<uuid:document_id>/pdf")
@blp.response(200, content_type="application/pdf")
def document_pdf(document_id: uuid.UUID) -> Any:
    """Return the PDF of one version of a document, as issued (its SHA-256 in the ETag)."""
    doc = services.get_document(current_user(), document_id, now=request_now())
    return file_response(
        doc.pdf, "application/pdf", f"{doc.kind}-{doc.id}.pdf", inline=True, etag=doc.sha256
    )


@blp.route("/documents/<uuid:document_id>/signatures", methods=["POST"])
@blp.arguments(SignatureCreateSchema)
@blp.response(201, DocumentSchema)
def sign(data: dict[str, Any], document_id: uuid.UUID) -> Any:
    """Upload a signature captured on the device (or a refusal with its witness); reissue.

    Answers the new version, which carries the signature; the signed version is kept.
    """
    location = data.get("location") or {}
    command = DocumentSign(
        document_id=document_id,
        role=data["role"],
        signer_name=data["signer_name"],
        signed_at=data["signed_at"],
        image=data.get("image"),
        signer_id=data.get("signer_id"),
        refused=data["refused"],
        witness_name=data["witness_name"],
        place=data["place"],
        lat=location.get("lat"),
        lon=location.get("lon"),
        accuracy=location.get("accuracy"),
    )
    return services.sign_document(current_user(), command, now=request_now())


@blp.route("/public/documents/<string:code>")
@public
@blp.response(200, PublicDocumentSchema)
def public_document(code: str) -> Any:
    """Confirm a document by the code under its QR code: number, department, date, SHA-256."""
    return services.public_document(code)


@blp.route("/public/documents/<string:code>/verify", methods=["POST"])
@public
@blp.doc(
    requestBody={
        "required": True,
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    }
)
@blp.response(200, VerificationSchema)
def verify(code: str) -> Any:
    """Check a copy of a PDF: genuine when its SHA-256 is the one on the audit chain."""
    # a body over MAX_CONTENT_LENGTH (32 MB) is refused with 413 before it is read
    return services.verify_document(code, request.get_data(cache=False))
