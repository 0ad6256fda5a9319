"""Versioned resources: the ETag, If-Match and 409/412/428 as OpenAPI documents them and as sent.

The tables below are written out from the contract (docs/concurrency.md),
not imported from the code: a new update of a versioned resource must be added here, and to
the code, with its If-Match.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.hazards.helpers import World

#: (method, path) → whether If-Match is required (False: optional, a stale one answers 412).
#: Required wherever it was before; optional where updates accepted none before.
VERSIONED_UPDATES: dict[tuple[str, str], bool] = {
    ("patch", "/api/v1/enterprises/{enterprise_id}"): True,
    ("patch", "/api/v1/inspections/{inspection_id}"): True,
    ("post", "/api/v1/inspections/{inspection_id}/cancel"): True,
    ("post", "/api/v1/hazards/{hazard_id}/actions"): True,
    ("patch", "/api/v1/users/{user_id}"): False,
    ("post", "/api/v1/sampling-plans/{plan_id}/commit"): False,
    ("post", "/api/v1/sampling-plans/{plan_id}/draw"): False,
    ("post", "/api/v1/public-reports/{report_id}/verify"): False,
    ("post", "/api/v1/public-reports/{report_id}/reject"): False,
}

#: Reads and creates that send the ETag of the versioned entity they return.
SENDS_ETAG: set[tuple[str, str]] = {
    ("get", "/api/v1/enterprises/{enterprise_id}"),
    ("post", "/api/v1/enterprises"),
    ("get", "/api/v1/inspections/{inspection_id}"),
    ("post", "/api/v1/inspections"),
    ("get", "/api/v1/hazards/{hazard_id}"),
    ("post", "/api/v1/hazards"),
    ("get", "/api/v1/users/{user_id}"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/sampling-plans/{plan_id}"),
    ("post", "/api/v1/sampling-plans"),
    ("get", "/api/v1/public-reports/{report_id}"),
}

#: Reads of immutable resources whose ETag is their content digest (If-None-Match → 304).
DIGEST_ETAG: set[tuple[str, str]] = {
    ("get", "/api/v1/checklists/{industry}"),
    ("get", "/api/v1/checklists/{industry}/versions/{version}"),
    ("get", "/api/v1/media/{sha256}"),
}

#: Updates and actions on an item that are not versioned resources, and why.
NOT_VERSIONED: dict[tuple[str, str], str] = {
    ("patch", "/api/v1/media/uploads/{upload_id}"): "a tus upload: Upload-Offset orders it",
    ("delete", "/api/v1/media/uploads/{upload_id}"): "a tus upload, abandoned",
    ("put", "/api/v1/media/{sha256}"): "content-addressed: the same bytes are the same photo",
    ("post", "/api/v1/devices/{device_id}/revoke"): "a device's tokens, not a versioned row",
    ("patch", "/api/v1/me"): "the caller's own language: the last choice wins, no profile edit",
    ("post", "/api/v1/findings/{finding_id}/review"): (
        "findings change through the sync push (base_version); a review locks the "
        "inspection and the finding and decides only a pending finding"
    ),
    ("post", "/api/v1/review/inspections/{inspection_id}/confirm-passes"): (
        "decides only pending findings, under the inspection's row lock; a retry confirms none"
    ),
    ("post", "/api/v1/inspections/{inspection_id}/documents"): (
        "a document is issued from the record under the inspection's row lock; issuing again "
        "from an unchanged record gives back the current version"
    ),
    ("post", "/api/v1/documents/{document_id}/signatures"): (
        "signs only the current version (else document.superseded), under the inspection's "
        "row lock; each signature makes a new version and keeps the old"
    ),
    ("post", "/api/v1/public/documents/{code}/verify"): "checks a copy: writes nothing",
}

#: An action on an item: POST /…/{id}/<verb>.
ITEM_ACTION = re.compile(r"/\{[a-z_]+\}/[a-z-]+$")


@pytest.fixture
def spec(client: Any) -> dict[str, Any]:
    """The app's OpenAPI document."""
    return client.get("/api/v1/openapi.json").json


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the document by (method, path)."""
    return {
        (method, path): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


def success(op: dict[str, Any]) -> dict[str, Any]:
    """The operation's one success response."""
    (status,) = [s for s in op["responses"] if s.startswith("2")]
    return op["responses"][status]


def test_every_update_of_an_item_is_versioned_or_says_why_not(spec: dict[str, Any]) -> None:
    writes = {
        key
        for key in operations(spec)
        if key[0] in ("put", "patch", "delete") or (key[0] == "post" and ITEM_ACTION.search(key[1]))
    }
    assert writes == set(VERSIONED_UPDATES) | set(NOT_VERSIONED)


def test_versioned_updates_document_if_match_and_409_412_428(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    for key, required in VERSIONED_UPDATES.items():
        op = ops[key]
        params = [p for p in op.get("parameters", []) if p.get("name") == "If-Match"]
        assert len(params) == 1, key
        assert params[0]["in"] == "header" and params[0]["required"] is required, key
        refs = {status: r.get("$ref") for status, r in op["responses"].items()}
        assert refs["409"] == "#/components/responses/CONFLICT", key
        assert refs["412"] == "#/components/responses/PRECONDITION_FAILED", key
        assert ("428" in refs) is required, key
        if required:
            assert refs["428"] == "#/components/responses/PRECONDITION_REQUIRED", key
        assert "ETag" in success(op).get("headers", {}), key


def test_reads_and_creates_of_versioned_resources_document_the_etag(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    for key in SENDS_ETAG:
        assert "ETag" in success(ops[key]).get("headers", {}), key
        assert not any(p.get("name") == "If-Match" for p in ops[key].get("parameters", [])), key
    error = spec["components"]["responses"]["PRECONDITION_FAILED"]
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_a_user_patch_takes_an_optional_if_match(client: Any, make: Any, login: Any) -> None:
    admin = login(make.user("admin"))
    target = make.user("inspector", name="张三")
    url = f"/api/v1/users/{target.id}"
    read = client.get(url, headers=admin)
    assert read.headers["ETag"] == f'"user-{target.id}-v{target.version}"'
    first = client.patch(
        url, headers={**admin, "If-Match": read.headers["ETag"]}, json={"name": "李四"}
    )
    assert first.status_code == 200, first.json
    assert first.headers["ETag"] == f'"user-{target.id}-v{target.version + 1}"'
    stale = client.patch(
        url, headers={**admin, "If-Match": read.headers["ETag"]}, json={"name": "王五"}
    )
    assert stale.status_code == 412 and stale.json["code"] == "precondition_failed"
    assert stale.json["etag"] == first.headers["ETag"]
    assert client.get(url, headers=admin).json["name"] == "李四"
    without = client.patch(url, headers=admin, json={"name": "赵六"})  # as before: no 428
    assert without.status_code == 200 and without.json["name"] == "赵六"


def test_sampling_plan_steps_refuse_a_stale_if_match(client: Any, make: Any, login: Any) -> None:
    for i in range(4):
        make.enterprise(risk_level=("high", "medium", "low", "low")[i])
    for _ in range(4):
        make.user("inspector")
    planner = login(make.user("planner"))
    created = client.post(
        "/api/v1/sampling-plans",
        headers=planner,
        json={
            "name": "抽查",
            "rates": {"high": "0.5", "medium": "0.5", "low": "0.5"},
            "team_size": 2,
            "cross_jurisdiction": False,
            "exclude_inspected_within_days": 0,
        },
    )
    assert created.status_code == 201, created.json
    pid, etag = created.json["id"], created.headers["ETag"]
    assert etag == f'"sampling_plan-{pid}-v{created.json["version"]}"'
    stale = '"sampling_plan-' + pid + '-v999"'
    url = f"/api/v1/sampling-plans/{pid}"
    refused = client.post(f"{url}/commit", headers={**planner, "If-Match": stale}, json={})
    assert refused.status_code == 412
    assert client.get(url, headers=planner).headers["ETag"] == etag  # nothing changed
    committed = client.post(f"{url}/commit", headers={**planner, "If-Match": etag}, json={})
    assert committed.status_code == 200, committed.json
    assert committed.headers["ETag"] != etag
    again = client.post(f"{url}/draw", headers={**planner, "If-Match": etag})
    assert again.status_code == 412
    drawn = client.post(f"{url}/draw", headers={**planner, "If-Match": committed.headers["ETag"]})
    assert drawn.status_code == 200, drawn.json
    assert drawn.json["version"] == committed.json["version"] + 1


def test_a_public_report_decision_refuses_a_stale_if_match(
    app: Any, client: Any, make: Any, login: Any
) -> None:
    world = World(app, client, make, login)
    report = client.post(
        "/api/v1/public/reports",
        json={
            "description": "某餐馆后厨液化气钢瓶放在地下室",
            "address": "长宁区华阳路100号",
            "location": {"lat": 31.2195, "lon": 121.4265},
            "jurisdiction": "huayanglu",
            "enterprise_name": "某餐馆",
        },
    )
    assert report.status_code == 201, report.json
    staff = world.headers("coordinator")
    url = f"/api/v1/public-reports/{report.json['id']}"
    read = client.get(url, headers=staff)
    assert read.headers["ETag"] == f'"public_report-{read.json["id"]}-v1"'
    stale = read.headers["ETag"].replace("-v", "-v9")
    refused = client.post(
        f"{url}/reject", headers={**staff, "If-Match": stale}, json={"note": "查无实据"}
    )
    assert refused.status_code == 412
    verify = {"enterprise_id": str(world.ent.id), "grade": "general"}
    refused = client.post(f"{url}/verify", headers={**staff, "If-Match": stale}, json=verify)
    assert refused.status_code == 412
    assert client.get(url, headers=staff).json["status"] == "pending"
    verified = client.post(
        f"{url}/verify", headers={**staff, "If-Match": read.headers["ETag"]}, json=verify
    )
    assert verified.status_code == 201, verified.json
    assert verified.headers["ETag"] == f'"hazard-{verified.json["id"]}-v{verified.json["version"]}"'


def test_digest_etags_are_documented_with_if_none_match_and_304(spec: dict[str, Any]) -> None:
    ops = operations(spec)
    for key in DIGEST_ETAG:
        assert "ETag" in success(ops[key]).get("headers", {}), key
        params = [p for p in ops[key].get("parameters", []) if p.get("name") == "If-None-Match"]
        assert len(params) == 1 and params[0]["required"] is False, key
        assert "304" in ops[key]["responses"], key
    documented = {
        key
        for key, op in ops.items()
        for status, response in op["responses"].items()
        if status.startswith("2") and "ETag" in response.get("headers", {})
    }
    assert documented == set(VERSIONED_UPDATES) | SENDS_ETAG | DIGEST_ETAG
