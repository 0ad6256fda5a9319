"""Editions: a version takes effect on a date, inspections pin the version in force on theirs."""

from __future__ import annotations

import re
import shutil
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from app.checklists.editions import diff_contents
from app.checklists.models import ChecklistVersion
from app.checklists.services import LIBRARY_DIR, versions_in_force
from app.inspections.models import Finding, Inspection

LATER = "2029-06-01"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A private copy of the project's checklist library."""
    target = tmp_path / "checklists"
    shutil.copytree(LIBRARY_DIR, target)
    return target


def _load(app, library: Path):
    return app.test_cli_runner().invoke(args=["checklists", "load", "--dir", str(library)])


def _edit(library: Path, industry: str, change) -> None:
    path = library / f"{industry}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _new_edition(data: dict) -> None:
    """A later edition of gas_catering: one item regraded, one re-based, one added, one removed."""
    data["effective_from"] = LATER
    items = {i["code"]: i for i in data["items"]}
    items["GAS-04"]["grade"] = "general"
    items["GAS-06"]["basis"]["article"] = "10.5.9"
    data["items"] = [i for i in data["items"] if i["code"] != "GAS-16"]
    data["items"].append({**items["GAS-14"], "code": "GAS-90", "text": "新增的检查"})


def _inspection(client, make, login, start: str) -> dict:
    ent = make.enterprise(industry="gas_catering")
    team = [make.user("inspector"), make.user("inspector")]
    body = {
        "type": "routine",
        "enterprise_id": str(ent.id),
        "inspector_ids": [str(u.id) for u in team],
        "window": {"start": f"{start}T02:00:00Z", "end": f"{start}T09:00:00Z"},
    }
    resp = client.post("/api/v1/inspections", headers=login(make.user("planner")), json=body)
    assert resp.status_code == 201, resp.json
    return resp.json


def test_a_later_edition_is_pinned_only_from_its_date(
    app, client, library, db_session, make, login
):
    assert _load(app, library).exit_code == 0
    _edit(library, "gas_catering", _new_edition)
    result = _load(app, library)
    assert result.exit_code == 0 and "published gas_catering v2" in result.output
    v2 = db_session.scalar(
        select(ChecklistVersion).where(
            ChecklistVersion.industry == "gas_catering", ChecklistVersion.version == 2
        )
    )
    assert v2.effective_from == date(2029, 6, 1)
    with app.app_context():
        assert versions_in_force(date(2029, 5, 31))["gas_catering"] == 1
        assert versions_in_force(date(2029, 6, 1))["gas_catering"] == 2
        assert versions_in_force(date(2029, 5, 31))["hot_work"] == 1
    before = _inspection(client, make, login, "2029-05-31")
    after = _inspection(client, make, login, "2029-06-02")
    assert before["checklist_version"] == 1
    assert after["checklist_version"] == 2
    api = client.get("/api/v1/checklists/gas_catering", headers=login(make.user())).json
    assert api["version"] == 2 and api["effective_from"] == LATER


def test_a_version_without_a_date_takes_effect_the_day_it_is_loaded(app, library, db_session):
    assert _load(app, library).exit_code == 0
    with app.app_context():
        today = versions_in_force(date.today())
        assert today and set(today.values()) == {1}
        # An inspection dated before the library existed still gets its first version.
        assert versions_in_force(date(2000, 1, 1)) == today


def test_loading_a_new_edition_changes_no_existing_finding(app, library, db_session, make):
    assert _load(app, library).exit_code == 0
    now = datetime.now(UTC)
    ent = make.enterprise(industry="gas_catering")
    insp_id = make.inspection(ent.id, [make.user("inspector")], now)
    db_session.get(Inspection, insp_id).checklist_version = 1
    db_session.add(
        Finding(
            id=uuid.uuid4(),
            inspection_id=insp_id,
            item_code="GAS-16",
            result="fail",
            grade="general",
            checklist_version=1,
            recorded_at=now,
        )
    )
    db_session.commit()
    _edit(library, "gas_catering", _new_edition)
    assert _load(app, library).exit_code == 0
    db_session.expire_all()
    finding = db_session.scalars(select(Finding).where(Finding.inspection_id == insp_id)).one()
    assert (finding.item_code, finding.checklist_version, finding.grade) == ("GAS-16", 1, "general")
    assert db_session.get(Inspection, insp_id).checklist_version == 1


def test_diff_names_added_removed_regraded_and_rebased_items(app, library):
    assert _load(app, library).exit_code == 0
    _edit(library, "gas_catering", _new_edition)
    assert _load(app, library).exit_code == 0
    result = app.test_cli_runner().invoke(args=["checklists", "diff", "gas_catering", "1", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "gas_catering v1 → v2"
    assert "added GAS-90" in lines and "removed GAS-16" in lines
    assert "regraded GAS-04: major → general" in lines
    rebased = [line for line in lines if line.startswith("re-based GAS-06: ")]
    new_basis = "《城镇燃气设计规范》（GB 50028-2006（2020年版））10.5.9"
    assert rebased and rebased[0].endswith(f"10.5.2 → {new_basis}")
    same = app.test_cli_runner().invoke(args=["checklists", "diff", "gas_catering", "1", "1"])
    assert same.output.splitlines()[1] == "no item changed"


def test_diff_of_an_unknown_version_exits_1(app, library):
    assert _load(app, library).exit_code == 0
    result = app.test_cli_runner().invoke(args=["checklists", "diff", "gas_catering", "1", "9"])
    assert result.exit_code == 1 and "There is no version 9" in result.output


def test_diff_contents_reports_reworded_items() -> None:
    old = yaml.safe_load((LIBRARY_DIR / "hot_work.yaml").read_text(encoding="utf-8"))
    new = yaml.safe_load((LIBRARY_DIR / "hot_work.yaml").read_text(encoding="utf-8"))
    new["items"][0]["text"] += "（修订）"
    diff = diff_contents(old, new)
    assert diff.reworded == [old["items"][0]["code"]]
    assert not (diff.added or diff.removed or diff.regraded or diff.rebased)


# --- the GB 35181 re-key: 2017 findings keep the 2017 edition -----------------------

OLD_FIRE = {
    "title": "重大火灾隐患判定方法",
    "number": "GB 35181-2017",
    "edition": "2017",
    "effective": None,
    "in_force": False,
    "superseded_by": "GB 35181-2025《重大火灾隐患判定规则》（2025-11-01 实施）",
    "read_from": "",
}


def _as_gb_35181_2017(data: dict) -> None:
    """commercial_complex as it was before the re-key: its direct elements cite GB 35181-2017."""
    data.pop("effective_from", None)
    data["sources"] = [OLD_FIRE if s["number"] == "GB 35181-2025" else s for s in data["sources"]]
    data["coverage"] = [c for c in data["coverage"] if c["number"] != "GB 35181-2025"]
    for item in data["items"]:
        if item["basis"]["number"] != "GB 35181-2025":
            continue
        found = re.search(
            r"GB 35181-2017 中为 (6\.\d+) 直接判定要素：“(.+)”",
            item["basis"]["text"],
        )
        assert found, item["code"]
        article, quote = found.groups()
        key = {"document": OLD_FIRE["title"], "number": OLD_FIRE["number"], "article": article}
        item["basis"] = {**key, "text": f"{quote}（直接判定要素）"}
        data["coverage"].append({**key, "situation": "（已替代版本）"})


def test_findings_judged_under_gb_35181_2017_keep_it_after_the_re_key(
    app, client, library, db_session, make, login
):
    current = (library / "commercial_complex.yaml").read_text(encoding="utf-8")
    _edit(library, "commercial_complex", _as_gb_35181_2017)
    assert _load(app, library).exit_code == 0
    inspector = make.user("inspector")
    ent = make.enterprise(industry="commercial_complex")
    now = datetime.now(UTC)
    insp_id = make.inspection(ent.id, [inspector], now, industry="commercial_complex")
    db_session.get(Inspection, insp_id).checklist_version = 1
    db_session.add(
        Finding(
            id=uuid.uuid4(),
            inspection_id=insp_id,
            item_code="CMX-01",
            result="fail",
            grade="major",
            checklist_version=1,
            recorded_at=now,
        )
    )
    db_session.commit()

    (library / "commercial_complex.yaml").write_text(current, encoding="utf-8")
    result = _load(app, library)
    assert result.exit_code == 0 and "published commercial_complex v2" in result.output
    db_session.expire_all()
    finding = db_session.scalars(select(Finding).where(Finding.inspection_id == insp_id)).one()
    assert (finding.item_code, finding.checklist_version, finding.grade) == ("CMX-01", 1, "major")
    assert db_session.get(Inspection, insp_id).checklist_version == 1
    listed = client.get(f"/api/v1/inspections/{insp_id}/findings", headers=login(inspector)).json
    basis = listed[0]["item"]["basis"]
    assert (basis["number"], basis["article"], basis["in_force"]) == ("GB 35181-2017", "6.5", False)

    with app.app_context():
        assert versions_in_force(date(2025, 10, 31))["commercial_complex"] == 1
        assert versions_in_force(date(2025, 11, 1))["commercial_complex"] == 2
    later = client.get("/api/v1/checklists/commercial_complex/versions/2", headers=login(inspector))
    cmx01 = next(i for i in later.json["items"] if i["code"] == "CMX-01")
    assert (cmx01["basis"]["number"], cmx01["basis"]["article"]) == ("GB 35181-2025", "第5章")
    assert cmx01["verified"] is False
    diff = app.test_cli_runner().invoke(args=["checklists", "diff", "commercial_complex", "1", "2"])
    assert "re-based CMX-01: 《重大火灾隐患判定方法》（GB 35181-2017）6.5 → " in diff.output
