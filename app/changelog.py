"""The change log: every write to a synced entity, recorded in the request's transaction.

This is the one API the domains use to feed the devices::

    from app.changelog import record_change, record_changes
    record_change("hazard", hazard)            # one entity, op "put" or "delete"
    record_changes("inspection", inspections)  # many entities of one type at once
    record_moves("enterprise", [(ent, old)])   # and a row in the jurisdiction it left
    record_selected("hazard", stmt)            # the rows a select names, no ORM objects

The log's scope keys are declared once, in :data:`SCOPE_COLUMNS`: the jurisdiction, enterprise
and inspection a change concerns, which a pull uses to read only the slice of the log that can
concern the caller, each through its index. The sync engine's tables are made here with them
(:data:`SYNC_TABLES`, in the application's metadata), because this module writes the log and
sits below every domain; ``app.sync.models`` maps them for the ORM. Each synced type declares
its values of those keys in :data:`SCOPE_KEYS`. A scope function reads attributes only (a
finding reaches its inspection through the ``inspection`` relationship), so this module
imports no domain and sits below all of them. Devices that may see the entity receive its
current state on their next pull; devices that may no longer see it receive a ``delete``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Executable, String, Uuid

from app.clock import utcnow
from app.db import Base, session
from sync.feed import ChangeRow, insert_changes
from sync.models import ScopeKey, make_sync_tables

#: Fieldsafe's scope keys of the change log, with the names of their feed indexes.
SCOPE_COLUMNS = (
    #: jurisdiction code of the entity, or EVERYWHERE for district-wide entities (checklists)
    ScopeKey("jurisdiction", String(40), index="ix_sync_changes_jurisdiction_feed"),
    ScopeKey("enterprise_id", Uuid(), index="ix_sync_changes_enterprise_feed"),
    ScopeKey("inspection_id", Uuid(), index="ix_sync_changes_inspection_feed"),
)
#: the ``jurisdiction`` of changes everyone in the district may receive (checklists)
EVERYWHERE = "*"
#: the sync engine's tables (change log, clients, results, known sets, epoch)
SYNC_TABLES = make_sync_tables(Base.metadata, SCOPE_COLUMNS)

Scope = dict[str, Any]


def _checklist(entity: Any) -> Scope:
    return {"jurisdiction": EVERYWHERE, "enterprise_id": None, "inspection_id": None}


def _enterprise(entity: Any) -> Scope:
    return {
        "jurisdiction": entity.jurisdiction_code,
        "enterprise_id": entity.id,
        "inspection_id": None,
    }


def _inspection(entity: Any) -> Scope:
    return {
        "jurisdiction": entity.jurisdiction_code,
        "enterprise_id": entity.enterprise_id,
        "inspection_id": entity.id,
    }


def _finding(entity: Any) -> Scope:
    inspection = entity.inspection
    return {
        "jurisdiction": inspection.jurisdiction_code,
        "enterprise_id": inspection.enterprise_id,
        "inspection_id": entity.inspection_id,
    }


def _hazard(entity: Any) -> Scope:
    return {
        "jurisdiction": entity.jurisdiction_code,
        "enterprise_id": entity.enterprise_id,
        "inspection_id": entity.inspection_id,
    }


#: The synced entity types and the scope keys of each: who may receive its changes.
SCOPE_KEYS: dict[str, Callable[[Any], Scope]] = {
    "checklist": _checklist,
    "enterprise": _enterprise,
    "inspection": _inspection,
    "finding": _finding,
    "hazard": _hazard,
}
SYNCED_TYPES = tuple(SCOPE_KEYS)
OPS = ("put", "delete")


def change_row(entity_type: str, entity: Any, op: str = "put") -> ChangeRow:
    """Describe a write to ``entity`` (already changed, its ``version`` bumped) as a change row."""
    scope = SCOPE_KEYS.get(entity_type)
    if scope is None:
        raise ValueError(f"{entity_type!r} is not a synced entity type")
    if op not in OPS:
        raise ValueError("op must be 'put' or 'delete'")
    if getattr(entity, "id", None) is None:
        session.flush()  # client defaults (the uuid) are assigned at flush
    return ChangeRow(
        entity_type=entity_type,
        entity_id=entity.id,
        op=op,
        version=int(getattr(entity, "version", None) or 1),
        scope=scope(entity),
    )


def record_change(entity_type: str, entity: Any, op: str = "put") -> None:
    """Record that ``entity`` was written (``put``) or deleted (``delete``), in this transaction."""
    insert_changes(session, SYNC_TABLES, [change_row(entity_type, entity, op)], utcnow())


def record_changes(entity_type: str, entities: Iterable[Any], op: str = "put") -> None:
    """Record writes to many entities of one type at once (bulk writers, draws)."""
    rows = [change_row(entity_type, e, op) for e in entities]
    if rows:
        insert_changes(session, SYNC_TABLES, rows, utcnow())


def record_selected(entity_type: str, stmt: Executable) -> None:
    """Record a ``put`` of each entity ``stmt`` selects: rows of the columns its change row
    reads (``id``, ``version`` and the type's scope attributes), for writers that hold no
    ORM objects of them (an entity sent again because what it shows of another changed)."""
    rows = session.execute(stmt).mappings()
    record_changes(entity_type, [SimpleNamespace(**row) for row in rows])


def record_rows(rows: Sequence[ChangeRow], now: datetime | None = None) -> None:
    """Record change rows a batch writer built itself (the sync push's set-based writes)."""
    if rows:
        insert_changes(session, SYNC_TABLES, rows, now or utcnow())


def record_moves(entity_type: str, moved: Iterable[tuple[Any, str]]) -> None:
    """Record that entities moved out of a jurisdiction: ``(entity, old jurisdiction)`` pairs.

    Each gets a change row in the slice of the jurisdiction it left, besides the row of its
    new state (:func:`record_changes`, in the new one's slice). The devices reading the old
    slice (that street's staff) then learn from the log that it left them and receive a
    ``delete``; without the row they would learn it only by reconciling their whole scope.
    """
    rows = [
        replace(row, scope={**row.scope, "jurisdiction": jurisdiction})
        for row, jurisdiction in ((change_row(entity_type, e), j) for e, j in moved)
    ]
    if rows:
        insert_changes(session, SYNC_TABLES, rows, utcnow())
