"""Several devices, a faulty network, and the invariant that nothing is lost or doubled.

Hypothesis drives devices that record, edit and delete findings, then sync or pull while
the network loses requests, loses responses, delivers twice, and delivers an old push
again after newer ones. When every outbox is drained:

- the server holds exactly what the outboxes produced, each mutation applied once (a
  replayed old put would roll a note back and bump the version, so it would show);
- every device's local copy equals the server's view of that user's scope.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from app.clock import utcnow
from sync.client import SyncClient, SyncError
from tests.sync.conftest import Clock, FlaskTransport, settle
from tests.sync.fakes import FaultyTransport

DEVICES = 3
FAULTS = ("ok", "lose_request", "lose_response", "duplicate", "replay_old")
_worlds = itertools.count()


def build_world(make: Any, login: Any, clock: Clock) -> dict[str, Any]:
    """A fresh enterprise, team and inspection for one Hypothesis example."""
    ent = make.enterprise(jurisdiction="xinhualu", industry="gas_catering")
    team = [make.user("inspector", jurisdiction="xinhualu") for _ in range(DEVICES)]
    return {
        "inspection_id": make.inspection(ent.id, team, clock.now),
        "team": team,
        "headers": [login(u) for u in team],
    }


def server_view(app: Any, user_id: uuid.UUID, now: Any) -> dict[tuple[str, str], Any]:
    """The entities a user may see, as the feed would send them."""
    from app.db import session
    from app.org.models import User
    from app.sync.scope import UserScope

    with app.app_context():
        scope = UserScope(session, session.get(User, user_id), now)
        out: dict[tuple[str, str], Any] = {}
        for entity_type in scope.types:
            ids = list(session.execute(scope.visible(entity_type)).scalars())
            for entity_id, (_, data) in scope.load(entity_type, ids).items():
                out[(entity_type, str(entity_id))] = data
        return out


def run_devices(app: Any, client: Any, make: Any, login: Any, clock: Clock, tmp: Path) -> None:
    from app.checklists.services import get_checklist, load_library
    from app.db import session
    from app.inspections.models import Finding
    from app.sync.models import SyncClient as ClientRow
    from app.sync.models import SyncResult

    with app.app_context():
        load_library(now=utcnow())
        session.commit()
        # Items a device answers pass/fail; those with a unit also need a measured value.
        codes = [
            i["code"] for i in get_checklist("gas_catering").content["items"] if not i.get("unit")
        ]

    class Devices(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.world = build_world(make, login, clock)
            self.iid = str(self.world["inspection_id"])
            self.faults: list[str] = []
            self.devices: list[SyncClient] = []
            self.owned: list[list[str]] = [[] for _ in range(DEVICES)]
            self.notes = itertools.count()
            n = next(_worlds)
            for d in range(DEVICES):
                token = self.world["headers"][d]["Authorization"].split(" ", 1)[1]
                net = FaultyTransport(FlaskTransport(client), self._next_fault)
                dev = SyncClient(
                    str(tmp / f"w{n}-d{d}.sqlite"),
                    net,
                    token=lambda t=token: t,
                    sleep=lambda s: None,
                    push_batch=3,
                    pull_limit=7,
                    max_attempts=4,
                )
                dev.enqueue(
                    "inspection.check_in",
                    {
                        "inspection_id": self.iid,
                        "at": "2026-03-02T01:00:00Z",
                        "location": {"lat": 31.2, "lon": 121.42, "accuracy": 9},
                    },
                )
                self.devices.append(dev)

        def _next_fault(self) -> str:
            return self.faults.pop(0) if self.faults else "ok"

        def _put(self, d: int, fid: str, code: str, result: str) -> None:
            self.devices[d].enqueue(
                "finding.put",
                {
                    "id": fid,
                    "inspection_id": self.iid,
                    "item_code": code,
                    "result": result,
                    "note": f"note-{next(self.notes)}",
                    "recorded_at": "2026-03-02T01:05:00Z",
                },
            )

        @rule(
            d=st.integers(0, DEVICES - 1),
            n=st.integers(0, 40),
            result=st.sampled_from(["pass", "fail", "na"]),
        )
        def record(self, d: int, n: int, result: str) -> None:
            fid = str(uuid.uuid4())
            self.owned[d].append(fid)
            self._put(d, fid, codes[n % len(codes)], result)

        @precondition(lambda self: any(self.owned))
        @rule(data=st.data(), result=st.sampled_from(["pass", "fail", "na"]))
        def edit(self, data: st.DataObject, result: str) -> None:
            d = data.draw(st.sampled_from([i for i in range(DEVICES) if self.owned[i]]))
            fid = data.draw(st.sampled_from(self.owned[d]))
            code = next(
                m["args"]["item_code"]
                for m in self.devices[d].outbox()
                if m["name"] == "finding.put" and m["args"]["id"] == fid
            )
            self._put(d, fid, code, result)

        @precondition(lambda self: any(self.owned))
        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            d = data.draw(st.sampled_from([i for i in range(DEVICES) if self.owned[i]]))
            fid = data.draw(st.sampled_from(self.owned[d]))
            self.devices[d].enqueue("finding.delete", {"id": fid})

        @rule(d=st.integers(0, DEVICES - 1), faults=st.lists(st.sampled_from(FAULTS), max_size=6))
        def sync(self, d: int, faults: list[str]) -> None:
            self.faults = list(faults)
            # A device that gives up keeps everything in its outbox for the next try.
            with contextlib.suppress(SyncError):
                self.devices[d].sync()

        @rule(d=st.integers(0, DEVICES - 1), faults=st.lists(st.sampled_from(FAULTS), max_size=4))
        def pull(self, d: int, faults: list[str]) -> None:
            self.faults = list(faults)
            with contextlib.suppress(SyncError):
                self.devices[d].pull()

        def teardown(self) -> None:
            self.faults = []
            for dev in self.devices:
                dev.push()
            settle(app)
            for dev in self.devices:  # pull after every push has landed
                dev.pull()
            expected = self.expected()
            with app.app_context():
                rows = session.execute(
                    select(Finding).where(Finding.inspection_id == self.world["inspection_id"])
                ).scalars()
                actual = {str(f.id): (f.result, f.note, f.deleted, f.version) for f in rows}
                for dev in self.devices:
                    sent = len(dev.outbox())
                    counter = session.get(ClientRow, dev.client_id)
                    assert counter is not None and counter.last_mutation_id == sent
                    stored = session.scalar(
                        select(func.count())
                        .select_from(SyncResult)
                        .where(SyncResult.client_id == dev.client_id)
                    )
                    assert stored == sent
            assert actual == expected
            for d, dev in enumerate(self.devices):
                assert dev.outbox("pending") == []
                view = server_view(app, self.world["team"][d].id, clock.now)
                assert dev.entities() == view
            for dev in self.devices:
                dev.close()

        def expected(self) -> dict[str, tuple[str, str, bool, int]]:
            """Replay every outbox on a model of the merge rules."""
            model: dict[str, list[Any]] = {}
            for dev in self.devices:
                for m in dev.outbox():
                    args = m["args"]
                    if m["name"] == "finding.put":
                        cur = model.get(args["id"])
                        if cur is None:
                            model[args["id"]] = [args["result"], args["note"], False, 1]
                        elif not cur[2]:
                            cur[0], cur[1], cur[3] = args["result"], args["note"], cur[3] + 1
                    elif m["name"] == "finding.delete":
                        cur = model.get(args["id"])
                        if cur is not None and not cur[2]:
                            cur[2], cur[3] = True, cur[3] + 1
            return {k: (v[0], v[1], v[2], v[3]) for k, v in model.items()}

    run_state_machine_as_test(
        Devices,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_devices_converge_under_faults(
    app: Any, client: Any, make: Any, login: Any, clock: Clock, tmp_path: Path
) -> None:
    run_devices(app, client, make, login, clock, tmp_path)
