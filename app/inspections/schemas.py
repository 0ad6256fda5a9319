"""Schemas for inspections and their findings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.checklists.schemas import JudgedItemSchema
from app.clock import isoformat
from app.fields import DateTime, dump_now
from app.i18n import _
from app.inspections.models import INSPECTION_STATES, INSPECTION_TYPES


def _window(obj: Any) -> dict[str, Any] | None:
    if obj.window_start is None and obj.window_end is None:
        return None
    return {"start": _rfc3339(obj.window_start), "end": _rfc3339(obj.window_end)}


def _rfc3339(value: Any) -> str | None:
    return isoformat(value)


def _status(obj: Any) -> str:
    return str(obj.effective_status(dump_now()))


#: The fields of its enterprise an inspection shows (``_enterprise``): an edit of any of them
#: puts the enterprise's inspections back into the devices' feed (``services.republish_for``).
ENTERPRISE_FIELDS = frozenset({"name", "address", "lat", "lon"})


def _enterprise(obj: Any) -> dict[str, Any] | None:
    ent = obj.enterprise
    if ent is None:
        return None
    loc = {"lat": ent.lat, "lon": ent.lon} if ent.lat is not None and ent.lon is not None else None
    return {"name": ent.name, "address": ent.address, "location": loc}


def _check_in(obj: Any) -> dict[str, Any] | None:
    if obj.check_in_received_at is None and obj.check_in_at is None:
        return None
    location = None
    if obj.check_in_lat is not None and obj.check_in_lon is not None:
        location = {
            "lat": obj.check_in_lat,
            "lon": obj.check_in_lon,
            "accuracy": obj.check_in_accuracy,
        }
    return {
        "at": _rfc3339(obj.check_in_at),
        "received_at": _rfc3339(obj.check_in_received_at),
        "by": str(obj.check_in_by) if obj.check_in_by else None,
        "location": location,
        "distance_m": obj.check_in_distance_m,
        "far": obj.check_in_far,
    }


class DocumentRefSchema(Schema):
    """An issued document (执法文书) as an inspection's or ticket's payload lists it."""

    id = fields.UUID()
    kind = fields.String(
        metadata={
            "description": "inspection_record, rectification_order, onsite_measures or "
            "recheck_opinion"
        }
    )
    title = fields.Function(lambda d: d.content.get("title"))
    number = fields.String(metadata={"description": "文号, fixed at the first issue"})
    version = fields.Integer()
    sha256 = fields.String(metadata={"description": "SHA-256 of the PDF, on the audit chain"})
    code = fields.String(metadata={"description": "verification code: /public/documents/<code>"})
    issued_at = DateTime()
    url = fields.Function(
        lambda d: f"/api/v1/documents/{d.id}/pdf",
        metadata={"description": "the PDF, for those in scope"},
    )
    verify_url = fields.Function(lambda d: d.content.get("verify_url"))


def dump_document_ref(d: Any) -> dict[str, Any]:
    """Return what :class:`DocumentRefSchema` dumps, written out."""
    return {
        "id": str(d.id),
        "kind": d.kind,
        "title": d.content.get("title"),
        "number": d.number,
        "version": d.version,
        "sha256": d.sha256,
        "code": d.code,
        "issued_at": isoformat(d.issued_at),
        "url": f"/api/v1/documents/{d.id}/pdf",
        "verify_url": d.content.get("verify_url"),
    }


class InspectionSchema(Schema):
    id = fields.UUID()
    type = fields.String()
    status = fields.Function(_status)
    enterprise_id = fields.UUID()
    enterprise = fields.Function(_enterprise)
    jurisdiction = fields.String(attribute="jurisdiction_code")
    industry = fields.String()
    checklist_version = fields.Integer(allow_none=True)
    inspector_ids = fields.List(fields.UUID())
    planner_id = fields.UUID(allow_none=True)
    sampling_plan_id = fields.UUID(allow_none=True)
    window = fields.Function(_window)
    dispatch_at = DateTime(allow_none=True)
    check_in = fields.Function(_check_in)
    submitted_at = DateTime(allow_none=True)
    created_at = DateTime()
    updated_at = DateTime()
    version = fields.Integer()
    recheck_hazard_ids = fields.List(
        fields.UUID(),
        metadata={"description": "a recheck (复查): the tickets the visit rechecks; else []"},
    )
    documents = fields.List(
        fields.Nested(DocumentRefSchema),
        metadata={"description": "the current version of each document issued (docs/documents.md)"},
    )


def _uuid(value: Any) -> str | None:
    return None if value is None else str(value)


def dump_inspection(i: Any, now: datetime) -> dict[str, Any]:
    """Return what :class:`InspectionSchema` dumps as of ``now``, written out (the sync feed).

    ``i`` has ``recheck_hazard_ids`` and ``documents`` attached (``attach_covered``,
    ``attach_documents``) and its enterprise loaded. A test holds this equal to the schema's
    dump, so the API's and the feed's shapes cannot drift.
    """
    return {
        "id": str(i.id),
        "type": i.type,
        "status": i.effective_status(now),
        "enterprise_id": str(i.enterprise_id),
        "enterprise": _enterprise(i),
        "jurisdiction": i.jurisdiction_code,
        "industry": i.industry,
        "checklist_version": i.checklist_version,
        "inspector_ids": [str(u) for u in i.inspector_ids],
        "planner_id": _uuid(i.planner_id),
        "sampling_plan_id": _uuid(i.sampling_plan_id),
        "window": _window(i),
        "dispatch_at": isoformat(i.dispatch_at),
        "check_in": _check_in(i),
        "submitted_at": isoformat(i.submitted_at),
        "created_at": isoformat(i.created_at),
        "updated_at": isoformat(i.updated_at),
        "version": i.version,
        "recheck_hazard_ids": [str(h) for h in i.recheck_hazard_ids],
        "documents": [dump_document_ref(d) for d in i.documents],
    }


class WindowSchema(Schema):
    start = DateTime(required=True, default_timezone=None)
    end = DateTime(required=True, default_timezone=None)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["end"] <= data["start"]:
            raise ValidationError(_("The window must end after it starts."), "end")


class InspectionCreateSchema(Schema):
    type = fields.String(
        required=True, validate=validate.OneOf(("unannounced", "routine", "complaint", "recheck"))
    )
    enterprise_id = fields.UUID(required=True)
    inspector_ids = fields.List(
        fields.UUID(), required=True, validate=validate.Length(min=2, max=20)
    )
    industry = fields.String(validate=validate.Length(min=1, max=40))
    window = fields.Nested(WindowSchema, allow_none=True)
    dispatch_at = DateTime(allow_none=True)
    hazard_ids = fields.List(
        fields.UUID(),
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "recheck only: the tickets the visit rechecks (default: every ticket "
            "of the enterprise being rectified or waiting for its recheck)"
        },
    )


class CancelSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class InspectionUpdateSchema(Schema):
    inspector_ids = fields.List(fields.UUID(), validate=validate.Length(min=2, max=20))
    window = fields.Nested(WindowSchema)
    dispatch_at = DateTime(allow_none=True)


class InspectionQueryArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(INSPECTION_STATES))
    type = fields.String(validate=validate.OneOf(INSPECTION_TYPES))
    enterprise_id = fields.UUID()
    sampling_plan_id = fields.UUID()
    industry = fields.String()
    jurisdiction = fields.String()
    assigned_to_me = fields.Boolean()


class FindingSchema(Schema):
    id = fields.UUID()
    inspection_id = fields.UUID()
    item_code = fields.String()
    checklist_version = fields.Integer(allow_none=True)
    result = fields.String()
    note = fields.String()
    grade = fields.String()
    photos = fields.List(fields.String())
    location = fields.Dict(allow_none=True)
    value = fields.Float(
        allow_none=True, metadata={"description": "measured value, in the item's unit"}
    )
    measures = fields.List(
        fields.Dict(),
        metadata={"description": "measures ordered on the spot: [{code, note}] (现场处理措施)"},
    )
    recorded_at = DateTime()
    received_at = DateTime()
    recorded_by = fields.UUID(allow_none=True)
    review_status = fields.String()
    review_comment = fields.String()
    item = fields.Nested(
        JudgedItemSchema,
        allow_none=True,
        metadata={
            "description": "the checklist item as the version it was judged under words it, "
            "with its basis and that basis's edition (finding lists; not in the sync feed)"
        },
    )
    media_pending = fields.Boolean()
    version = fields.Integer()


def dump_finding(f: Any) -> dict[str, Any]:
    """Return what :class:`FindingSchema` dumps for the sync feed (no ``item``), written out.

    ``f`` is a :class:`~app.inspections.models.Finding` or a row of its table's columns. A
    test holds this equal to the schema's dump, so the API's and the feed's shapes cannot drift.
    """
    return {
        "id": str(f.id),
        "inspection_id": str(f.inspection_id),
        "item_code": f.item_code,
        "checklist_version": f.checklist_version,
        "result": f.result,
        "note": f.note,
        "grade": f.grade,
        "photos": None if f.photos is None else list(f.photos),
        "location": None if f.location is None else dict(f.location),
        "value": f.value,
        "measures": None if f.measures is None else [dict(m) for m in f.measures],
        "recorded_at": isoformat(f.recorded_at),
        "received_at": isoformat(f.received_at),
        "recorded_by": _uuid(f.recorded_by),
        "review_status": f.review_status,
        "review_comment": f.review_comment,
        "media_pending": f.media_pending,
        "version": f.version,
    }
