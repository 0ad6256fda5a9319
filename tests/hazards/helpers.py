"""A small world for hazard and review tests: an enterprise, the cast of users, tickets."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def sha(label: str) -> str:
    """Return a deterministic SHA-256 hex for a label (a photo that needs no bytes)."""
    return hashlib.sha256(label.encode()).hexdigest()


def z(value: datetime) -> str:
    """Format as RFC 3339 with Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Clock:
    """A settable clock for app.config["CLOCK"]."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


class World:
    """One gas_catering enterprise in huayanglu, and one user of every relevant kind.

    gas_catering tickets are closed by supervisors of 'construction' (the default map).
    """

    def __init__(
        self, app: Flask, client: FlaskClient, make: Any, login: Callable[..., dict[str, str]]
    ) -> None:
        self.app, self.client, self.make, self.login = app, client, make, login
        self.ent = make.enterprise(industry="gas_catering", jurisdiction="huayanglu")
        self.other_ent = make.enterprise(industry="gas_catering", jurisdiction="xinhualu")
        self.users = {
            "coordinator": make.user("coordinator", department_code="safety_office"),
            "enterprise": make.user(
                "enterprise", jurisdiction="huayanglu", enterprise_id=self.ent.id
            ),
            "inspector_assignee": make.user("inspector"),
            "inspector_recheck": make.user("inspector"),
            "inspector_other": make.user("inspector"),
            "supervisor_resp": make.user("supervisor", department_code="construction"),
            "supervisor_other": make.user("supervisor", department_code="emergency"),
            "planner": make.user("planner", department_code="safety_office"),
            "admin": make.user("admin", department_code="safety_office"),
        }
        self._headers: dict[str, dict[str, str]] = {}
        self._recheck_inspection()

    def _recheck_inspection(self) -> None:
        from app.db import session
        from app.inspections.models import Inspection, InspectionInspector

        with self.app.app_context():
            insp = Inspection(
                type="recheck",
                status="dispatched",
                enterprise_id=self.ent.id,
                jurisdiction_code="huayanglu",
                industry="gas_catering",
            )
            session.add(insp)
            session.flush()
            session.add(
                InspectionInspector(
                    inspection_id=insp.id, user_id=self.users["inspector_recheck"].id
                )
            )
            session.commit()

    def headers(self, who: str) -> dict[str, str]:
        if who not in self._headers:
            self._headers[who] = self.login(self.users[who])
        return self._headers[who]

    def hazard(
        self,
        status: str = "open",
        grade: str = "general",
        assignee: str | None = "inspector_assignee",
        extension: bool = False,
        deadline: datetime | None = None,
        enterprise: Any = None,
        **fields: Any,
    ) -> uuid.UUID:
        """Issue a ticket and put it straight into `status` (arranging, not acting)."""
        from app.clock import utcnow
        from app.db import session
        from app.hazards.deadlines import set_deadline
        from app.hazards.services import issue_hazard
        from app.registry.models import Enterprise

        with self.app.app_context():
            ent = session.get(Enterprise, (enterprise or self.ent).id)
            h = issue_hazard(
                source="supervision",
                enterprise=ent,
                grade=grade,
                description="灶具连接管老化",
                actor=None,
                photos=[sha("found")],
                deadline=deadline,
                # An overdue ticket was found before its deadline, as every ticket is.
                found_at=min(utcnow(), deadline - timedelta(days=30)) if deadline else None,
                now=utcnow(),
            )
            h.status = status
            h.assignee_id = self.users[assignee].id if assignee else None
            if extension:
                h.extension_request = {
                    "until": z(h.deadline + timedelta(days=10)),
                    "reason": "材料未到",
                    "by": str(self.users["enterprise"].id),
                    "by_name": "enterprise",
                    "at": z(h.created_at),
                }
            for key, value in fields.items():
                setattr(h, key, value)
            if deadline is not None:
                set_deadline(h, deadline)
            session.commit()
            return h.id

    def get(self, hazard_id: uuid.UUID, who: str = "coordinator") -> Any:
        return self.client.get(f"/api/v1/hazards/{hazard_id}", headers=self.headers(who))

    def etag(self, hazard_id: uuid.UUID) -> str:
        resp = self.get(hazard_id, "coordinator")
        assert resp.status_code == 200, resp.json
        return resp.headers["ETag"]

    def act(
        self, hazard_id: uuid.UUID, who: str, body: dict[str, Any], etag: str | None = "auto"
    ) -> Any:
        headers = dict(self.headers(who))
        if etag == "auto":
            etag = self.etag(hazard_id)
        if etag:
            headers["If-Match"] = etag
        return self.client.post(f"/api/v1/hazards/{hazard_id}/actions", json=body, headers=headers)

    def row(self, hazard_id: uuid.UUID) -> Any:
        from app.db import session
        from app.hazards.models import Hazard

        with self.app.app_context():
            h = session.get(Hazard, hazard_id)
            session.expunge(h)
            return h
