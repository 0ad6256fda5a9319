"""`fieldsafe sync prune` and `fieldsafe sync rotate-epoch`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.sync.conftest import Site
from tests.sync.test_pull import pull_all
from tests.sync.test_push import Push, check_in


def test_prune_expires_old_cursors(app: Flask, client: FlaskClient, site: Site) -> None:
    headers = site.headers[site.inspectors[0].username]
    cid = str(uuid.uuid4())
    _, cursor, _ = pull_all(client, headers, cid)
    Push(client, headers).send(check_in(site))  # a change the old cursor has not seen
    site.clock.advance(days=91)
    result = app.test_cli_runner().invoke(args=["sync", "prune"])
    assert result.exit_code == 0, result.output
    assert "pruned" in result.output
    site.clock.now -= timedelta(days=91)  # tokens stay valid; the cursor is below the floor
    resp = client.get(
        "/api/v1/sync/pull", query_string={"client_id": cid, "cursor": cursor}, headers=headers
    )
    assert resp.status_code == 409
    assert resp.json["reason"] == "expired"


def test_rotate_epoch_resets_every_device(app: Flask, client: FlaskClient, site: Site) -> None:
    headers = site.headers[site.inspectors[0].username]
    cid = str(uuid.uuid4())
    _, cursor, _ = pull_all(client, headers, cid)
    result = app.test_cli_runner().invoke(args=["sync", "rotate-epoch"])
    assert result.exit_code == 0, result.output
    resp: Any = client.get(
        "/api/v1/sync/pull", query_string={"client_id": cid, "cursor": cursor}, headers=headers
    )
    assert resp.status_code == 409
    assert resp.json["reason"] == "foreign_epoch"
