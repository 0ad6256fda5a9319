"""Factories for test data; each commits (to the test's savepoint) and returns a detached object."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from flask import Flask

from app.auth.services import hash_password
from app.db import session
from app.org.models import User
from app.registry.models import Enterprise
from app.registry.uscc import make_uscc

_counter = itertools.count(1)
_rng = random.Random(7)


class Factories:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def _save(self, obj: Any) -> Any:
        with self.app.app_context():
            session.add(obj)
            session.commit()
            session.refresh(obj)
            session.expunge(obj)
        return obj

    def user(self, role: str = "inspector", jurisdiction: str = "changning", **kw: Any) -> User:
        """Create a user; password 'password-123'."""
        n = next(_counter)
        with self.app.app_context():
            pw = hash_password(kw.pop("password", "password-123"))
        defaults: dict[str, Any] = {
            "username": f"{role}{n}",
            "password_hash": pw,
            "role": role,
            "jurisdiction_code": jurisdiction,
            "name": f"{role} {n}",
            "conflicts": [],
        }
        if role == "inspector":
            defaults.update(
                certificate_no=f"CERT{n:06d}",
                certificate_expires=date(2030, 1, 1),
                department_code="emergency",
            )
        defaults.update(kw)
        return self._save(User(**defaults))

    def enterprise(
        self, jurisdiction: str = "huayanglu", industry: str = "gas_catering", **kw: Any
    ) -> Enterprise:
        """Create an enterprise inside Changning, on the sync change log."""
        n = next(_counter)
        defaults: dict[str, Any] = {
            "name": f"测试企业{n}",
            "uscc": make_uscc(_rng),
            "industry": industry,
            "jurisdiction_code": jurisdiction,
            "address": f"长宁路{n}号",
            "lat": 31.2195,
            "lon": 121.4265,
            "risk_level": "medium",
        }
        defaults.update(kw)
        ent = Enterprise(**defaults)
        with self.app.app_context():
            from app.changelog import record_change

            session.add(ent)
            session.flush()
            record_change("enterprise", ent)  # registered, as the registry's writes do
            session.commit()
            session.refresh(ent)
            session.expunge(ent)
        return ent

    def inspection(
        self,
        enterprise_id: uuid.UUID,
        inspectors: Sequence[User],
        now: datetime,
        type: str = "routine",
        industry: str = "gas_catering",
        dispatch_at: datetime | None = None,
    ) -> uuid.UUID:
        """Create an inspection of the enterprise for the team, on the sync change log."""
        from app.changelog import record_change
        from app.inspections.services import new_inspection

        with self.app.app_context():
            insp = new_inspection(
                type=type,
                enterprise=session.get(Enterprise, enterprise_id),
                industry=industry,
                planner_id=None,
                inspector_ids=[u.id for u in inspectors],
                window_start=None,
                window_end=None,
                dispatch_at=dispatch_at,
                checklist_version=None,
                now=now,
            )
            session.flush()
            record_change("inspection", insp, "put")
            session.commit()
            return insp.id
