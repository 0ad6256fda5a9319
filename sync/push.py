"""The push apply loop: exactly-once application of a device's mutations.

:func:`apply_push` runs inside the caller's transaction and does, in order:

1. Lock the client's counter row (an upsert, which locks the row on PostgreSQL; SQLite
   serialises writers at ``BEGIN IMMEDIATE``). Two identical pushes arriving at once
   queue here; the second then sees the advanced counter and only replays.
2. Answer replays (ids at or below ``last_mutation_id``) from the stored results, and ask
   again for the photos a replayed, applied mutation cites that have still not arrived (the
   device may never have seen the first answer's ``missing_media``).
3. Refuse a gap (first new id above ``last_mutation_id + 1``) with :class:`MutationGap`
   before anything is written.
4. Validate every new mutation's args by its :class:`MutationSpec`; an unknown name or
   invalid args are rejected with a code and field messages.
5. Hand consecutive runs of the same mutation to its spec's handler, which applies the whole
   run with set-based statements and decides per mutation ``applied`` or ``rejected``
   (handlers find rejections out *before* writing). Each run is wrapped in a savepoint:
   if a handler raises anyway, the run is rolled back and retried one mutation at a
   time, each in its own savepoint, so a mutation that cannot be applied is rejected
   and leaves no effect while its neighbours still apply. Given ``restart`` (the caller's
   rollback), runs of handlers that never raise a refusal (``checks_first``) skip the
   savepoint; if one raises after all, the whole push is rolled back and applied again
   with every savepoint.
6. Word every rejection's messages with ``translate`` (see ``sync.text``), store every
   result, advance the counter to the last id, and record a ``client`` change row carrying
   the counter (see ``sync.feed``). A replay answers the stored result: the same words.

The caller commits once. A transient failure raises and the caller rolls back: nothing
is applied and the device retries the same push.

The application passes its mutation table: ``{name: MutationSpec(fields, build, handler)}``,
most simply built with :func:`mutation_specs` from a ``sync.protocol.Mutation`` table (which a
device client can share) and the handlers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError

from sync.bulk import insert_rows
from sync.cursor import Executor, core, dialect_name
from sync.feed import CLIENT, ChangeRow, change_write, insert_changes
from sync.models import SyncTables
from sync.protocol import Mutation, ProtocolError, PushRequest, parse_args
from sync.text import _l

__all__ = [
    "ApplyContext",
    "ClientTaken",
    "Handler",
    "Item",
    "MutationGap",
    "MutationRejected",
    "MutationSpec",
    "PushOutcome",
    "applied",
    "apply_push",
    "mutation_specs",
    "rejected",
]


class MutationGap(Exception):
    """The push skips ids; the device must resend from ``expected_id``."""

    code = "sync.mutation_gap"

    def __init__(self, expected_id: int) -> None:
        super().__init__(f"expected mutation {expected_id}")
        self.expected_id = expected_id


class ClientTaken(Exception):
    """The client id belongs to another user's install."""

    code = "sync.client_taken"


#: How a message reaches the device: a ``sync.text.Text`` (or a str a handler already worded)
#: in, the words the device shows out. ``str`` keeps the English.
Translate = Callable[[Any], str]


class MutationRejected(Exception):
    """Raised by a handler applying one mutation: reject it with this code (no effect).

    ``message`` and the ``errors`` are ``sync.text.Text`` or anything ``translate`` takes.
    """

    def __init__(self, code: str, message: Any, errors: dict[str, list[Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors


@dataclass(frozen=True)
class Item:
    """A validated mutation handed to a handler."""

    id: int
    name: str
    #: the value the mutation's ``build`` made of its args
    args: Any


def rejected(
    item: Item, code: str, message: Any, errors: dict[str, list[Any]] | None = None
) -> dict[str, Any]:
    """Return the result of a rejected mutation."""
    result: dict[str, Any] = {"id": item.id, "status": "rejected", "code": code, "message": message}
    if errors:
        result["errors"] = errors
    return result


def applied(
    item: Item, entity_type: str | None = None, entity_id: Any = None, version: int | None = None
) -> dict[str, Any]:
    """Return the result of an applied mutation, naming the entity it wrote."""
    result: dict[str, Any] = {"id": item.id, "status": "applied"}
    if entity_type is not None:
        result["entity"] = {"type": entity_type, "id": str(entity_id), "version": version}
    return result


@dataclass
class ApplyContext:
    """What handlers get besides the session: who pushes, when, and what to collect."""

    actor: Any
    now: datetime
    client_id: uuid.UUID
    changes: list[ChangeRow] = field(default_factory=list)
    missing_media: set[str] = field(default_factory=set)
    #: free-form notes for the caller's audit entry (e.g. created and deleted ids)
    summary: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Handler(Protocol):
    """Applies a run of mutations of one name; returns one result per item, in order."""

    def __call__(
        self, executor: Any, ctx: ApplyContext, items: Sequence[Item], /
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class MutationSpec(Mutation):
    """A mutation the server applies: its fields, the typed value they build, its handler.

    ``checks_first``: the handler finds every refusal out before it writes and returns it as
    a ``rejected`` result, never raising one (the field-work handlers do). A raise from it is
    then a surprise from the database, and with ``apply_push(restart=...)`` its runs go
    without a savepoint each (see :func:`apply_push`).
    """

    handler: Handler
    checks_first: bool = False


def mutation_specs(
    mutations: Mapping[str, Mutation],
    handlers: Mapping[str, Handler],
    checks_first: Iterable[str] = (),
) -> dict[str, MutationSpec]:
    """Pair each mutation with its handler; refuse a mutation or a handler left unpaired.

    ``checks_first`` names the mutations whose handlers never raise a refusal
    (:attr:`MutationSpec.checks_first`).
    """
    if set(mutations) != set(handlers):
        unpaired = sorted(set(mutations) ^ set(handlers))
        raise ValueError(f"mutations and handlers do not pair up: {unpaired}")
    checked = set(checks_first)
    if not checked <= set(mutations):
        raise ValueError(
            f"checks_first names unknown mutations: {sorted(checked - set(mutations))}"
        )
    return {
        name: MutationSpec(m.fields, m.build, handlers[name], name in checked)
        for name, m in mutations.items()
    }


class _Redo(Exception):
    """A run applied without its savepoint raised: the push is redone with savepoints."""


@dataclass
class PushOutcome:
    """What the push endpoint answers."""

    last_mutation_id: int
    results: list[dict[str, Any]]
    missing_media: list[str]
    applied: int = 0
    rejected: int = 0
    replayed: int = 0


@lru_cache(maxsize=16)
def _lock_statement(table: Table, dialect: str) -> Any:
    """The counter upsert for ``table`` on ``dialect``, built once: its values are parameters."""
    ins: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    ins = ins.values(
        client_id=bindparam("client_id", type_=table.c.client_id.type),
        user_id=bindparam("user_id", type_=table.c.user_id.type),
        last_mutation_id=0,
        created_at=bindparam("now", type_=table.c.created_at.type),
        updated_at=bindparam("now", type_=table.c.updated_at.type),
    )
    return ins.on_conflict_do_update(
        index_elements=[table.c.client_id], set_={"client_id": ins.excluded.client_id}
    ).returning(table.c.user_id, table.c.last_mutation_id)


@lru_cache(maxsize=16)
def _advance_statement(table: Table) -> Any:
    """The counter's advance for ``table``, built once."""
    return (
        update(table)
        .where(table.c.client_id == bindparam("cid", type_=table.c.client_id.type))
        .values(
            last_mutation_id=bindparam("last", type_=table.c.last_mutation_id.type),
            updated_at=bindparam("now", type_=table.c.updated_at.type),
        )
    )


def lock_client(
    executor: Executor, tables: SyncTables, client_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> int:
    """Create the client's counter row if needed, lock it, and return ``last_mutation_id``.

    One statement: an upsert whose no-op update takes the row lock (on PostgreSQL a
    concurrent push of the same client waits here until the first one commits).
    """
    stmt = _lock_statement(tables.clients, dialect_name(executor))
    row = executor.execute(stmt, {"client_id": client_id, "user_id": user_id, "now": now}).one()
    if row.user_id != user_id:
        raise ClientTaken(str(client_id))
    return int(row.last_mutation_id)


def apply_push(
    executor: Any,
    tables: SyncTables,
    push: PushRequest,
    *,
    actor: Any,
    user_id: uuid.UUID,
    mutations: Mapping[str, MutationSpec],
    now: datetime,
    savepoint: Callable[[], Any] | None = None,
    translate: Translate = str,
    media_missing: Callable[[list[str]], list[str]] | None = None,
    restart: Callable[[], None] | None = None,
) -> PushOutcome:
    """Apply ``push`` exactly once in the caller's transaction; see the module docstring.

    ``restart`` rolls the caller's whole transaction back. Given it, the runs of mutations
    whose handlers check first (:attr:`MutationSpec.checks_first`) are applied without a
    savepoint each; should one raise anyway (the database refused a write), nothing is kept:
    ``restart`` is called and the push is applied again from the start, every run in its
    savepoint, so only the mutation that cannot be written is rejected.
    """

    def apply(optimistic: bool) -> PushOutcome:
        return _apply_push(
            executor,
            tables,
            push,
            actor=actor,
            user_id=user_id,
            mutations=mutations,
            now=now,
            savepoint=savepoint,
            translate=translate,
            media_missing=media_missing,
            optimistic=optimistic,
        )

    if restart is not None:
        try:
            return apply(optimistic=True)
        except _Redo:
            restart()
    return apply(optimistic=False)


def _apply_push(
    executor: Any,
    tables: SyncTables,
    push: PushRequest,
    *,
    actor: Any,
    user_id: uuid.UUID,
    mutations: Mapping[str, MutationSpec],
    now: datetime,
    savepoint: Callable[[], Any] | None,
    translate: Translate,
    media_missing: Callable[[list[str]], list[str]] | None,
    optimistic: bool,
) -> PushOutcome:
    """Apply ``push`` once (see :func:`apply_push`); ``optimistic``: skip checked runs' savepoints.

    ``mutations`` is the application's table of the mutations it accepts. ``savepoint``
    opens a nested transaction (``session.begin_nested``); it defaults to the executor's own
    ``begin_nested``. ``translate`` words each message of a rejection (its ``message`` and
    ``errors``) for the device; the default keeps the English. ``media_missing`` answers which
    of some photo hashes the server has not stored yet: given it, a replayed mutation that was
    applied asks again for the photos it cites (its ``photos`` argument) that are still missing.
    """
    nested = savepoint or executor.begin_nested
    # The push's own statements (its counter, stored results, change rows) on the connection;
    # the handlers get ``executor`` itself.
    db = core(executor)
    last = lock_client(db, tables, push.client_id, user_id, now)
    replays = [m for m in push.mutations if m.id <= last]
    fresh = [m for m in push.mutations if m.id > last]
    if fresh and fresh[0].id != last + 1:
        raise MutationGap(last + 1)

    results: list[dict[str, Any]] = []
    stored: dict[int, dict[str, Any]] = {}
    if replays:
        r = tables.results.c
        stored = {
            row.mutation_id: row.result
            for row in db.execute(
                select(r.mutation_id, r.result).where(
                    r.client_id == push.client_id, r.mutation_id.in_([m.id for m in replays])
                )
            )
        }
        results.extend(stored[m.id] for m in replays if m.id in stored)

    ctx = ApplyContext(actor=actor, now=now, client_id=push.client_id)
    if replays and media_missing is not None:
        cited = _cited_photos(m for m in replays if stored.get(m.id, {}).get("status") == "applied")
        ctx.missing_media.update(media_missing(cited) if cited else ())
    by_id: dict[int, dict[str, Any]] = {}
    runs: list[list[Item]] = []
    for m in fresh:
        try:
            args = parse_args(m.name, m.args, mutations)
        except ProtocolError as exc:
            by_id[m.id] = {
                "id": m.id,
                "status": "rejected",
                "code": exc.code,
                "message": exc.message,
            }
            if exc.errors:
                by_id[m.id]["errors"] = exc.errors
            continue
        item = Item(m.id, m.name, args)
        if runs and runs[-1][0].name == m.name and runs[-1][-1].id == m.id - 1:
            runs[-1].append(item)
        else:
            runs.append([item])

    for run in runs:
        spec = mutations[run[0].name]
        if optimistic and spec.checks_first:
            try:
                applied_run = spec.handler(executor, ctx, run)
            except (MutationRejected, IntegrityError, DataError) as exc:
                raise _Redo() from exc
        else:
            applied_run = _apply_run(executor, ctx, spec.handler, run, nested)
        for item, result in zip(run, applied_run, strict=True):
            by_id[item.id] = result

    new_results = [_worded(by_id[m.id], translate) for m in fresh]
    if fresh:
        last = fresh[-1].id
        # The counter travels in the change log after the push's own changes, so a pull
        # reports a last_mutation_id whose effects it has already delivered.
        ctx.changes.append(ChangeRow(CLIENT, push.client_id, "put", last))
        # The results, the counter's advance and the change rows: one statement on PostgreSQL.
        insert_rows(
            db,
            tables.results,
            [{"mutation_id": res["id"], "result": res} for res in new_results],
            shared={"client_id": push.client_id, "created_at": now},
            along=(
                (
                    _advance_statement(tables.clients),
                    {"cid": push.client_id, "last": last, "now": now},
                ),
                change_write(db, tables, ctx.changes, now, prefix="changes_"),
            ),
        )
    else:
        insert_changes(db, tables, ctx.changes, now)
    results.extend(new_results)
    return PushOutcome(
        last_mutation_id=last,
        results=results,
        missing_media=sorted(ctx.missing_media),
        applied=sum(1 for r in new_results if r["status"] == "applied"),
        rejected=sum(1 for r in new_results if r["status"] == "rejected"),
        replayed=len(replays),
    )


#: The argument in which a mutation names the photos it cites (SHA-256 hex digests).
PHOTOS_ARG = "photos"


def _cited_photos(mutations: Iterable[Any]) -> list[str]:
    """Return the well-formed photo hashes the raw ``mutations`` cite, in order, once each."""
    cited: dict[str, None] = {}
    for m in mutations:
        photos = m.args.get(PHOTOS_ARG) if isinstance(m.args, Mapping) else None
        for p in photos if isinstance(photos, list) else ():
            if isinstance(p, str) and len(p) == 64:
                cited[p.lower()] = None
    return list(cited)


def _worded(result: dict[str, Any], translate: Translate) -> dict[str, Any]:
    """Put a rejection's message and field messages in the words ``translate`` gives."""
    if result.get("status") != "rejected":
        return result
    if "message" in result:
        result["message"] = translate(result["message"])
    if result.get("errors"):
        result["errors"] = {
            key: [translate(m) for m in messages] if isinstance(messages, list) else messages
            for key, messages in result["errors"].items()
        }
    return result


def _mark(ctx: ApplyContext) -> tuple[int, set[str], dict[str, list[str]]]:
    return len(ctx.changes), set(ctx.missing_media), {k: list(v) for k, v in ctx.summary.items()}


def _restore(ctx: ApplyContext, mark: tuple[int, set[str], dict[str, list[str]]]) -> None:
    del ctx.changes[mark[0] :]
    ctx.missing_media, ctx.summary = mark[1], mark[2]


def _apply_run(
    executor: Any,
    ctx: ApplyContext,
    handler: Handler,
    run: list[Item],
    nested: Callable[[], Any],
) -> list[dict[str, Any]]:
    """Apply a run set-based; if that raises, redo it one mutation per savepoint."""
    mark = _mark(ctx)
    try:
        with nested():
            return handler(executor, ctx, run)
    except (MutationRejected, IntegrityError, DataError):
        _restore(ctx, mark)
    out: list[dict[str, Any]] = []
    for item in run:
        mark = _mark(ctx)
        try:
            with nested():
                out.extend(handler(executor, ctx, [item]))
        except MutationRejected as exc:
            _restore(ctx, mark)
            out.append(rejected(item, exc.code, exc.message, exc.errors))
        except (IntegrityError, DataError):
            # A deterministic refusal by the database (a constraint, a value out of range):
            # retrying cannot help, so reject it rather than block the outbox forever.
            _restore(ctx, mark)
            out.append(
                rejected(
                    item,
                    "sync.write_conflict",
                    _l("The server could not store this change; record it again."),
                )
            )
    return out
