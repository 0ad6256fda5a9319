"""Loading the library publishes versions only on change; the API serves them with ETags."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from app.checklists.models import ChecklistVersion
from app.checklists.services import LIBRARY_DIR


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A private copy of the project's checklist library."""
    target = tmp_path / "checklists"
    shutil.copytree(LIBRARY_DIR, target)
    return target


def _load(app, library):
    return app.test_cli_runner().invoke(args=["checklists", "load", "--dir", str(library)])


def _versions(db_session, industry=None):
    stmt = select(func.count()).select_from(ChecklistVersion)
    if industry:
        stmt = stmt.where(ChecklistVersion.industry == industry)
    return db_session.scalar(stmt)


def test_load_twice_creates_nothing_the_second_time(app, library, db_session):
    first = _load(app, library)
    assert first.exit_code == 0, first.output
    files = len(list(library.glob("*.yaml")))
    assert _versions(db_session) == files
    second = _load(app, library)
    assert second.exit_code == 0 and f"0 published, {files} unchanged" in second.output
    assert _versions(db_session) == files


def test_editing_one_item_publishes_exactly_one_version(
    app, client, library, db_session, make, login
):
    _load(app, library)
    path = library / "gas_catering.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    old_text = data["items"][0]["text"]
    data["items"][0]["text"] = old_text + "（修订）"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = _load(app, library)
    assert result.exit_code == 0 and "published gas_catering v2" in result.output
    assert "1 published" in result.output
    assert _versions(db_session, "gas_catering") == 2
    headers = login(make.user())
    latest = client.get("/api/v1/checklists/gas_catering", headers=headers).json
    assert latest["version"] == 2 and latest["items"][0]["text"].endswith("（修订）")
    old = client.get("/api/v1/checklists/gas_catering/versions/1", headers=headers).json
    assert old["version"] == 1 and old["items"][0]["text"] == old_text
    assert old["digest"] != latest["digest"]


def test_invalid_file_refuses_everything_naming_file_item_field(app, library, db_session):
    path = library / "gas_catering.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["items"][1]["grade"] = "catastrophic"
    code = data["items"][1]["code"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = _load(app, library)
    assert result.exit_code == 1
    assert f"gas_catering.yaml: item {code}, field grade" in result.output
    assert _versions(db_session) == 0


def test_industry_must_match_file_name(app, library, db_session):
    src = library / "gas_catering.yaml"
    shutil.copy(src, library / "renamed.yaml")
    result = _load(app, library)
    assert result.exit_code == 1 and "renamed.yaml: field industry" in result.output
    assert _versions(db_session) == 0


def test_api_etag_and_304(app, client, library, make, login):
    _load(app, library)
    headers = login(make.user())
    resp = client.get("/api/v1/checklists/gas_catering", headers=headers)
    assert resp.status_code == 200
    etag = resp.headers["ETag"]
    assert etag == f'"{resp.json["digest"]}"'
    again = client.get(
        "/api/v1/checklists/gas_catering", headers={**headers, "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.data == b""
    v1 = client.get(
        "/api/v1/checklists/gas_catering/versions/1", headers={**headers, "If-None-Match": etag}
    )
    assert v1.status_code == 304
    stale = client.get(
        "/api/v1/checklists/gas_catering", headers={**headers, "If-None-Match": '"abc"'}
    )
    assert stale.status_code == 200


def test_api_lists_latest_and_404s(app, client, library, make, login):
    _load(app, library)
    headers = login(make.user("enterprise", enterprise_id=make.enterprise().id))
    listing = client.get("/api/v1/checklists", headers=headers).json
    assert {c["industry"] for c in listing} == {p.stem for p in library.glob("*.yaml")}
    assert all(c["version"] == 1 and c["item_count"] >= 1 for c in listing)
    missing = client.get("/api/v1/checklists/space_mining", headers=headers)
    assert missing.status_code == 404 and missing.json["code"] == "checklist.not_found"
    missing_v = client.get("/api/v1/checklists/gas_catering/versions/99", headers=headers)
    assert missing_v.status_code == 404 and missing_v.json["code"] == "checklist.not_found"
