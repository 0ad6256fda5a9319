"""Every API answer that ran statements says how long they took in the database."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event

TIMING = re.compile(r'^db;dur=(\d+\.\d);desc="(\d+) statements"$')


def test_an_answer_carries_its_statements_database_time(
    client: FlaskClient, make: Any, login: Any, test_db: Any
) -> None:
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    headers = login(make.user("supervisor"))
    event.listen(test_db.engine, "before_cursor_execute", count)
    try:
        resp = client.get("/api/v1/me", headers=headers)
        assert resp.status_code == 200
        timing = TIMING.match(resp.headers["Server-Timing"])
        assert timing is not None, resp.headers["Server-Timing"]
        assert int(timing.group(2)) == len(sent) > 0
        assert float(timing.group(1)) >= 0.0

        sent.clear()
        resp = client.get("/api/v1/inspections", headers=headers)
        timing = TIMING.match(resp.headers["Server-Timing"])
        assert timing is not None
        # Counted per request: this one's statements, not the previous one's as well.
        assert int(timing.group(2)) == len(sent) > 1
    finally:
        event.remove(test_db.engine, "before_cursor_execute", count)


def test_an_answer_that_ran_no_statement_has_no_timing(client: FlaskClient) -> None:
    resp = client.get("/api/v1/no-such-route")
    assert resp.status_code == 404
    assert "Server-Timing" not in resp.headers
