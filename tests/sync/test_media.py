"""Photos referenced by findings: missing_media, upload by the device, media_pending cleared."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import Table, text

from sync.bulk import insert_rows
from sync.client import SyncError
from tests.conftest import requires_postgres
from tests.sync.conftest import Site, device_for, settle
from tests.sync.test_push import check_in, put


def jpeg(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


def test_device_uploads_missing_photos_and_pending_clears(
    client: FlaskClient, site: Site, tmp_path: Path
) -> None:
    user = site.inspectors[0]
    dev = device_for(client, site.headers[user.username], tmp_path)
    photo = dev.add_photo(jpeg((200, 30, 30)))
    fid = str(uuid.uuid4())
    dev.enqueue(*check_in(site))
    dev.enqueue(*put(site, fid, result="fail", photos=[photo]))
    report = dev.sync()
    assert report.uploaded == [photo]
    finding = dev.get("finding", fid)
    assert finding is not None
    assert finding["media_pending"] is False
    assert finding["version"] == 2  # created pending, then cleared when the photo arrived


def test_photo_already_stored_is_not_missing(
    client: FlaskClient, site: Site, tmp_path: Path
) -> None:
    user = site.inspectors[0]
    dev = device_for(client, site.headers[user.username], tmp_path)
    photo = dev.add_photo(jpeg((10, 120, 10)))
    dev.enqueue(*check_in(site))
    dev.enqueue(*put(site, photos=[photo]))
    dev.push()
    second = str(uuid.uuid4())
    dev.enqueue(*put(site, second, item_code=site.item_codes[1], photos=[photo]))
    report = dev.sync()
    assert report.uploaded == []
    assert dev.get("finding", second)["media_pending"] is False


def test_large_photo_goes_through_tus_to_a_real_server(tmp_path: Path) -> None:
    """The reference client's tus path (tuspy) against gunicorn, then the pull shows it."""
    from sync.client import RequestsTransport, SyncClient
    from tests.sync.live import Server, scratch_database, seed

    world = seed(scratch_database(None, tmp_path, "tus"), inspections=1)
    server = Server(world, tmp_path).start()
    try:
        dev = SyncClient(
            str(tmp_path / "device.sqlite"),
            RequestsTransport(server.url),
            token=lambda: world.token,
            base_url=server.url,
            put_limit=0,  # everything through tus
        )
        photo = dev.add_photo(jpeg((30, 30, 200)))
        fid = str(uuid.uuid4())
        iid = str(world.inspections[0])
        dev.enqueue(
            "inspection.check_in",
            {
                "inspection_id": iid,
                "at": "2026-03-02T01:00:00Z",
                "location": {"lat": 31.2195, "lon": 121.4265, "accuracy": 5},
            },
        )
        dev.enqueue(
            "finding.put",
            {
                "id": fid,
                "inspection_id": iid,
                "item_code": world.item_codes[0],
                "result": "fail",
                "photos": [photo],
                "recorded_at": "2026-03-02T01:05:00Z",
            },
        )
        report = dev.sync()
        assert report.uploaded == [photo], report.upload_failed
        assert dev.get("finding", fid)["media_pending"] is False
    finally:
        server.stop()


def many_findings(site: Site, n: int) -> list[dict[str, Any]]:
    """``n`` findings on the site's inspection; only the first waits for photo "a…a"."""
    now = datetime.now(UTC)
    return [
        {
            "id": uuid.uuid4(),
            "inspection_id": site.inspection_id,
            "item_code": site.item_codes[0],
            "result": "pass",
            "note": "",
            "grade": "general",
            "photos": ["a" * 64] if i == 0 else [f"{i:064x}"],
            "recorded_at": now,
            "received_at": now,
            "review_status": "pending",
            "review_comment": "",
            "media_pending": i == 0,
            "deleted": False,
            "updated_at": now,
            "version": 1,
        }
        for i in range(n)
    ]


def plan_of(stmt: Any) -> str:
    from app.db import session

    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    return "\n".join(session.execute(text(f"EXPLAIN {compiled}")).scalars())


@requires_postgres
def test_an_upload_reads_only_the_findings_waiting_for_photos(site: Site) -> None:
    """The lookup each stored photo triggers uses the partial index, not a scan of all."""
    from app.db import session
    from app.inspections.models import Finding
    from app.inspections.photos import waiting_for_photo

    rows = many_findings(site, 5000)
    with site.app.app_context():
        try:
            insert_rows(session, cast(Table, Finding.__table__), rows)
            session.execute(text("ANALYZE findings"))
            stmt = waiting_for_photo("a" * 64)
            plan = plan_of(stmt)
            assert "ix_findings_media_pending" in plan, plan
            assert [f.id for f in session.execute(stmt).scalars()] == [rows[0]["id"]]
        finally:
            session.rollback()


@requires_postgres
def test_who_cites_a_photo_is_answered_by_the_index(site: Site) -> None:
    """Every photo view asks which findings cite it: a GIN index lookup, not a scan of all.

    (On a few thousand rows a scan is cheaper and the planner rightly takes it.)
    """
    from sqlalchemy import select

    from app.db import cites_photo, session
    from app.inspections.models import Finding

    rows = many_findings(site, 30_000)
    with site.app.app_context():
        try:
            insert_rows(session, cast(Table, Finding.__table__), rows)
            session.execute(text("ANALYZE findings"))
            stmt = select(Finding.id).where(cites_photo(Finding.photos, f"{1234:064x}"))
            plan = plan_of(stmt)
            assert "ix_findings_photos" in plan, plan
            assert session.execute(stmt).scalars().all() == [rows[1234]["id"]]
            unknown = select(Finding.id).where(cites_photo(Finding.photos, "f" * 64))
            assert session.execute(unknown).scalars().all() == []
        finally:
            session.rollback()


def _lose_first_push_answer() -> Any:
    """A network plan that loses the answer of the first push and delivers everything else."""
    seen: list[str] = []

    def plan() -> str:
        seen.append("x")
        return "lose_response" if len(seen) == 1 else "ok"

    return plan


def test_a_replayed_push_asks_again_for_the_photos_it_still_waits_for(
    app: Any, client: FlaskClient, site: Site, tmp_path: Path
) -> None:
    """The first answer (with missing_media) is lost; the retry is a replay and names them."""
    from tests.sync.fakes import FaultyTransport

    user = site.inspectors[0]
    dev = device_for(client, site.headers[user.username], tmp_path)
    dev.transport = FaultyTransport(dev.transport, _lose_first_push_answer())
    photo = dev.add_photo(jpeg((220, 120, 20)))
    fid = str(uuid.uuid4())
    dev.enqueue(*check_in(site))
    dev.enqueue(*put(site, fid, result="fail", photos=[photo]))
    report = dev.push()
    assert dev.transport.faults[:2] == ["lose_response", "ok"]  # the retry was a replay
    assert report.uploaded == [photo]
    settle(app)  # on PostgreSQL the feed shows a change once no older transaction runs
    dev.pull()
    assert dev.get("finding", fid)["media_pending"] is False


def test_a_replay_of_a_rejected_mutation_asks_for_nothing(
    client: FlaskClient, site: Site, tmp_path: Path
) -> None:
    user = site.inspectors[0]
    headers = site.headers[user.username]
    name, args = put(site, photos=["ab" * 32])  # before the check-in: refused
    body = {"client_id": str(uuid.uuid4()), "mutations": [{"id": 1, "name": name, "args": args}]}
    first = client.post("/api/v1/sync/push", json=body, headers=headers).get_json()
    assert first["results"][0]["code"] == "inspection.not_checked_in"
    again = client.post("/api/v1/sync/push", json=body, headers=headers).get_json()
    assert again["results"] == first["results"] and again["missing_media"] == []


def test_the_pull_names_the_photos_the_users_own_findings_still_wait_for(
    app: Any, client: FlaskClient, site: Site, tmp_path: Path
) -> None:
    """Every push answer lost for good: the pull alone tells the device what to upload."""
    from tests.sync.fakes import FaultyTransport

    user, other = site.inspectors[0], site.inspectors[1]
    dev = device_for(client, site.headers[user.username], tmp_path)
    photo = dev.add_photo(jpeg((20, 200, 120)))
    fid = str(uuid.uuid4())
    dev.enqueue(*check_in(site))
    dev.enqueue(*put(site, fid, result="fail", photos=[photo]))
    answers = FaultyTransport(dev.transport, lambda: "lose_response")
    dev.transport = answers
    with pytest.raises(SyncError):
        dev.push()  # applied on the server; the device never hears of it
    dev.transport = answers.inner

    # The colleague on the same inspection sees the finding, but is not asked for its photo.
    pulled = client.get(
        "/api/v1/sync/pull",
        query_string={"client_id": str(uuid.uuid4())},
        headers=site.headers[other.username],
    ).get_json()
    assert pulled["missing_media"] == []

    report = dev.pull()
    assert report.uploaded == [photo]
    again = client.get(
        "/api/v1/sync/pull",
        query_string={"client_id": str(dev.client_id)},
        headers=site.headers[user.username],
    ).get_json()
    assert again["missing_media"] == []
    settle(app)  # on PostgreSQL the feed shows a change once no older transaction runs
    dev.pull()
    assert dev.get("finding", fid)["media_pending"] is False
