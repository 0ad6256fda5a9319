"""Test doubles for the device client: an in-memory protocol server and a faulty network."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.sync.mutations import parse_args
from sync.client import HttpResponse, TransportError
from sync.protocol import ProtocolError, parse_push


def _error(status: int, code: str, message: str = "", **extra: Any) -> HttpResponse:
    return HttpResponse(status, {"code": code, "status": status, "message": message, **extra})


@dataclass
class FakeServer:
    """Speaks the sync protocol with a trivial data model: ``note.put`` writes ``notes``.

    It is the smallest server that behaves like the real one at the protocol level
    (counters, stored results, gaps, paging, resets), so client behaviour can be tested
    without the application.
    """

    counters: dict[str, int] = field(default_factory=dict)
    results: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)  # (op, finding id)
    applied: list[tuple[str, int]] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    epoch: int = 1
    token: str = "t1"
    fail_next: list[int] = field(default_factory=list)  # statuses to answer before working

    def handle(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        data: bytes | None,
        headers: Mapping[str, str],
    ) -> HttpResponse:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "auth.unauthorized")
        if self.fail_next:
            return _error(self.fail_next.pop(0), "server.unavailable")
        if method == "POST" and path == "/api/v1/sync/push":
            return self.push(body)
        if method == "GET" and path == "/api/v1/sync/pull":
            return self.pull(dict(params or {}))
        if method == "PUT" and path.startswith("/api/v1/media/"):
            digest = path.rsplit("/", 1)[1]
            existed = digest in self.media
            self.media[digest] = data or b""
            return HttpResponse(200 if existed else 201, {"sha256": digest})
        return _error(404, "not_found")

    def push(self, body: Any) -> HttpResponse:
        try:
            push = parse_push(body)
        except ProtocolError as exc:
            return _error(422, exc.code, exc.message, errors=exc.errors)
        client = str(push.client_id)
        last = self.counters.get(client, 0)
        fresh = [m for m in push.mutations if m.id > last]
        if fresh and fresh[0].id != last + 1:
            return _error(409, "sync.mutation_gap", "gap", expected_id=last + 1)
        out = []
        missing: list[str] = []
        for m in push.mutations:
            if m.id <= last:
                if (client, m.id) in self.results:
                    out.append(self.results[(client, m.id)])
                continue
            try:
                args = parse_args(m.name, m.args)
            except ProtocolError as exc:
                result = {"id": m.id, "status": "rejected", "code": exc.code}
            else:
                fid = str(args.id)  # type: ignore[union-attr]
                if m.name == "finding.delete":
                    self.findings.pop(fid, None)
                    self.log.append(("delete", fid))
                else:
                    self.findings[fid] = copy.deepcopy(m.args)
                    self.log.append(("put", fid))
                    missing += [p for p in m.args.get("photos", []) if p not in self.media]
                self.applied.append((client, m.id))
                result = {"id": m.id, "status": "applied"}
            self.results[(client, m.id)] = result
            self.counters[client] = last = m.id
            out.append(result)
        return HttpResponse(
            200, {"last_mutation_id": last, "results": out, "missing_media": sorted(set(missing))}
        )

    def pull(self, params: dict[str, Any]) -> HttpResponse:
        cursor = params.get("cursor")
        limit = int(params.get("limit", 100))
        if cursor is None:
            # Full scope first, then the log from its current end.
            position = len(self.log)
            changes = [
                {"type": "finding", "id": fid, "op": "put", "version": 1, "data": data}
                for fid, data in sorted(self.findings.items())
            ]
        else:
            epoch, _, pos = cursor.partition(":")
            if int(epoch) != self.epoch:
                return _error(409, "sync.reset_required", "reset")
            position = int(pos)
            changes = []
            for op, fid in self.log[position : position + limit]:
                position += 1
                if op == "put" and fid in self.findings:
                    changes.append(
                        {
                            "type": "finding",
                            "id": fid,
                            "op": "put",
                            "version": 1,
                            "data": self.findings[fid],
                        }
                    )
                else:
                    changes.append({"type": "finding", "id": fid, "op": "delete"})
        return HttpResponse(
            200,
            {
                "cursor": f"{self.epoch}:{position}",
                "has_more": position < len(self.log),
                "last_mutation_id": self.counters.get(params.get("client_id", ""), 0),
                "changes": changes,
            },
        )


@dataclass
class FakeTransport:
    """Delivers requests to a :class:`FakeServer` in process."""

    server: FakeServer
    sent: list[tuple[str, str]] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        self.sent.append((method, path))
        return self.server.handle(
            method, path, params, copy.deepcopy(json), data, dict(headers or {})
        )


@dataclass
class FaultyTransport:
    """Wraps a transport and injects faults chosen by ``plan`` for each request.

    ``plan()`` returns one of ``"ok"``, ``"lose_request"`` (never reaches the server),
    ``"lose_response"`` (applied, but the device hears nothing), ``"duplicate"`` (the
    server receives it twice) or ``"replay_old"`` (an earlier request, held back by the
    network, is delivered again before this one).
    """

    inner: Any
    plan: Callable[[], str]
    history: list[dict[str, Any]] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, **kwargs: Any) -> HttpResponse:
        fault = self.plan()
        self.faults.append(fault)
        if fault == "replay_old" and self.history:
            old = self.history[-1]
            with contextlib.suppress(TransportError):
                self.inner.request(old["method"], old["path"], **old["kwargs"])
        if fault == "lose_request":
            raise TransportError("request lost")
        if method == "POST":
            self.history.append({"method": method, "path": path, "kwargs": copy.deepcopy(kwargs)})
        resp = self.inner.request(method, path, **kwargs)
        if fault == "duplicate":
            resp = self.inner.request(method, path, **kwargs)
        if fault == "lose_response":
            raise TransportError("response lost")
        return resp
