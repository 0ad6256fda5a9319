"""The sync adapter: each mutation a device pushes, and the domain function that applies it.

:data:`SPECS` pairs each of Fieldsafe's mutations (``app.sync.mutations``: fields and typed
args) with a handler; it is the table ``sync.push.apply_push`` applies a push by. A handler
gets a run of consecutive mutations of one name, hands their typed args to the domain
(``app.inspections.fieldwork`` for field work, ``app.hazards.services`` for tickets) as one
batch, and turns each outcome into the push's result: applied with the entity's version, or
rejected with the refusal's code, message and per-field errors. The rules live in the domain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.documents.services import sign_document
from app.errors import DomainError
from app.hazards.services import comment_hazard, recheck_hazard
from app.inspections import fieldwork
from app.inspections.fieldwork import Batch, Done, Outcome
from app.media.services import missing_media
from app.sync.mutations import MUTATIONS, DocumentSign, HazardComment, HazardRecheck
from sync.push import (
    ApplyContext,
    Item,
    MutationRejected,
    MutationSpec,
    applied,
    mutation_specs,
    rejected,
)

FieldWork = Callable[[Batch, Sequence[Any]], list[Outcome]]


def result(item: Item, outcome: Outcome) -> dict[str, Any]:
    """A domain outcome as a push result."""
    if isinstance(outcome, Done):
        return applied(item, outcome.entity, outcome.id, outcome.version)
    return rejected(item, outcome.code, outcome.message, outcome.errors)


def field_work(apply: FieldWork) -> Callable[[Session, ApplyContext, Sequence[Item]], Any]:
    """Adapt a field-work function (a batch of commands → outcomes) to a push handler."""

    def handler(db: Session, ctx: ApplyContext, items: Sequence[Item]) -> list[dict[str, Any]]:
        batch = Batch(actor=ctx.actor, now=ctx.now, client_id=ctx.client_id)
        outcomes = apply(batch, [item.args for item in items])
        ctx.changes.extend(batch.changes)
        ctx.missing_media.update(batch.missing_media)
        if batch.created_findings:
            ctx.summary.setdefault("created_findings", []).extend(batch.created_findings)
        if batch.deleted_findings:
            ctx.summary.setdefault("deleted_findings", []).extend(batch.deleted_findings)
        return [result(item, outcome) for item, outcome in zip(items, outcomes, strict=True)]

    handler.__doc__ = apply.__doc__
    return handler


def hazard_action(db: Session, ctx: ApplyContext, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Hand a recheck result or a comment to the hazard tickets' services."""
    results = []
    for item in items:
        args = item.args
        try:
            if isinstance(args, HazardRecheck):
                hazard = recheck_hazard(
                    args.hazard_id,
                    ctx.actor,
                    result=args.result,
                    note=args.note,
                    photos=list(args.photos),
                    at=args.at,
                    deadline=args.deadline,
                    inspection_id=args.inspection_id,
                    location=args.location.as_dict() if args.location else None,
                    now=ctx.now,
                )
            else:
                assert isinstance(args, HazardComment)
                hazard = comment_hazard(
                    args.hazard_id,
                    ctx.actor,
                    note=args.note,
                    photos=list(args.photos),
                    now=ctx.now,
                )
        except DomainError as exc:
            # the savepoint undoes whatever the service wrote before refusing
            raise MutationRejected(exc.code, exc.message, exc.errors) from exc
        ctx.missing_media.update(missing_media(list(args.photos)))
        results.append(applied(item, "hazard", hazard.id, getattr(hazard, "version", None)))
    return results


def document_sign(db: Session, ctx: ApplyContext, items: Sequence[Item]) -> list[dict[str, Any]]:
    """Hand each signature captured on the device to the documents' services."""
    results = []
    for item in items:
        assert isinstance(item.args, DocumentSign)
        try:
            doc = sign_document(ctx.actor, item.args, now=ctx.now)
        except DomainError as exc:
            raise MutationRejected(exc.code, exc.message, exc.errors) from exc
        results.append(applied(item, "document", doc.id, doc.version))
    return results


#: every mutation a device may push, paired with the handler applying a run of it
SPECS: dict[str, MutationSpec] = mutation_specs(
    MUTATIONS,
    {
        "finding.put": field_work(fieldwork.put_findings),
        "finding.delete": field_work(fieldwork.delete_findings),
        "inspection.check_in": field_work(fieldwork.check_in),
        "inspection.submit": field_work(fieldwork.submit),
        "inspection.create": field_work(fieldwork.start_patrols),
        "hazard.recheck": hazard_action,
        "hazard.comment": hazard_action,
        "document.sign": document_sign,
    },
    # field work returns its refusals (it checks a batch before writing): no savepoint per run
    checks_first=(
        "finding.put",
        "finding.delete",
        "inspection.check_in",
        "inspection.submit",
        "inspection.create",
    ),
)
