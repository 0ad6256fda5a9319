"""Each checklist declares the documents it rests on; SOURCES.md lists them and is kept current."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from app.checklists.services import LIBRARY_DIR, ChecklistLoadError, read_library
from app.checklists.sources import (
    check_library_sources,
    check_sources,
    item_counts,
    render_coverage,
    render_sources_md,
    replace_coverage_section,
)

LIBRARY_FILES = sorted(LIBRARY_DIR.glob("*.yaml"))


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _items(industry: str) -> dict[str, dict]:
    return {i["code"]: i for i in _load(LIBRARY_DIR / f"{industry}.yaml")["items"]}


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A private copy of the project's checklist library."""
    target = tmp_path / "checklists"
    shutil.copytree(LIBRARY_DIR, target)
    return target


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_every_basis_names_a_declared_source(path: Path) -> None:
    data = _load(path)
    assert data.get("sources"), f"{path.name} declares no sources"
    assert check_sources(data) == []


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_every_item_says_whether_it_was_verified(path: Path) -> None:
    unmarked = [i["code"] for i in _load(path)["items"] if not isinstance(i.get("verified"), bool)]
    assert unmarked == []


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_superseded_sources_name_their_successor(path: Path) -> None:
    for source in _load(path)["sources"]:
        if source["in_force"] is False:
            assert source.get("superseded_by"), source["title"]


def test_a_document_is_declared_the_same_way_by_every_file() -> None:
    assert check_library_sources({p.stem: _load(p) for p in LIBRARY_FILES}) == []


def test_undeclared_document_is_named_by_file_and_item() -> None:
    data = _load(LIBRARY_DIR / "gas_catering.yaml")
    item = next(i for i in data["items"] if i["grade"] == "general")
    item["basis"]["document"] = "某某管理办法"
    assert check_sources(data) == [
        f"item {item['code']}, field basis: 《某某管理办法》"
        f"（{item['basis']['number']}） is not declared in sources"
    ]


def test_declared_but_uncited_document_is_a_problem() -> None:
    data = _load(LIBRARY_DIR / "gas_catering.yaml")
    data["sources"].append({**data["sources"][0], "title": "无人引用的标准"})
    assert any("无人引用的标准" in p and "cited by no item" in p for p in check_sources(data))


def test_loader_refuses_a_basis_naming_an_undeclared_document(library: Path) -> None:
    path = library / "hot_work.yaml"
    data = _load(path)
    data["items"][1]["basis"]["number"] = "应急管理部令第99号"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ChecklistLoadError) as exc:
        read_library(library)
    code = data["items"][1]["code"]
    assert any(p.startswith(f"hot_work.yaml: item {code}, field basis") for p in exc.value.problems)


def test_loader_refuses_two_files_declaring_one_document_differently(library: Path) -> None:
    path = library / "hot_work.yaml"
    data = _load(path)
    law = next(s for s in data["sources"] if s["title"] == "中华人民共和国消防法")
    law["edition"] = "2008年修订"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ChecklistLoadError) as exc:
        read_library(library)
    assert any("hot_work.yaml: sources: 《中华人民共和国消防法》" in p for p in exc.value.problems)


def test_sources_md_is_current() -> None:
    expected = render_sources_md(read_library())
    actual = (LIBRARY_DIR / "SOURCES.md").read_text(encoding="utf-8")
    assert actual == expected, "run `fieldsafe checklists sources` and commit checklists/SOURCES.md"


def test_sources_command_writes_and_checks(app, library: Path) -> None:
    runner = app.test_cli_runner()
    (library / "SOURCES.md").write_text("stale\n", encoding="utf-8")
    stale = runner.invoke(args=["checklists", "sources", "--dir", str(library), "--check"])
    assert stale.exit_code == 1 and "out of date" in stale.output
    wrote = runner.invoke(args=["checklists", "sources", "--dir", str(library)])
    assert wrote.exit_code == 0 and "gas_catering: 18 items, 4 major" in wrote.output
    assert (library / "SOURCES.md").read_text(encoding="utf-8") == render_sources_md(
        read_library(library)
    )
    fresh = runner.invoke(args=["checklists", "sources", "--dir", str(library), "--check"])
    assert fresh.exit_code == 0, fresh.output


def test_sources_md_lists_each_citing_item() -> None:
    text = (LIBRARY_DIR / "SOURCES.md").read_text(encoding="utf-8")
    section = text.split("### 《上海市消防条例》（2020年修正）")[1].split("### ")[0]
    assert "items (2, 2 verified): CMX-16, HOT-15" in section


# --- the corrections of issue 13, pinned ----------------------------------------


def test_construction_confined_space_items_follow_the_2024_edition() -> None:
    items = _items("confined_space")
    by_article = {
        article: [
            c
            for c, i in items.items()
            if i["basis"]["number"] == "建质规〔2024〕5号" and i["basis"]["article"] == article
        ]
        for article in (f"第十一条第（{n}）项" for n in "一二三四")
    }
    assert by_article == {
        "第十一条第（一）项": ["CFS-16"],
        "第十一条第（二）项": ["CFS-14"],
        "第十一条第（三）项": ["CFS-15", "CFS-17"],
        "第十一条第（四）项": ["CFS-18"],
    }
    assert "专人负责监护" in items["CFS-15"]["basis"]["text"]
    # （一） is major only when the space is not identified *and* no warning sign is set.
    assert "，且未在显著位置设置警示标志" in items["CFS-16"]["basis"]["text"]
    assert "或者" in items["CFS-16"]["text"] and "二者均未做到" in items["CFS-16"]["text"]


def test_no_item_cites_the_abolished_2022_construction_standard() -> None:
    cited = [
        i["code"]
        for path in LIBRARY_FILES
        for i in _load(path)["items"]
        if i["basis"]["number"] == "建质规〔2022〕2号"
    ]
    assert cited == []


def test_and_conditions_of_the_2024_construction_standard_are_worded_as_such() -> None:
    item = _items("construction_decoration")["CON-11"]
    assert "，且未做可靠连接" in item["basis"]["text"]
    assert "或者已做可靠连接" in item["text"] and "二者均未做到" in item["text"]


#: Items re-keyed to the edition in force although its text was not read: all `verified: false`.
ON_UNREAD_EDITIONS = {
    "GB 35181-2025": {
        "CMX-01",
        "CMX-02",
        "CMX-03",
        "FAC-09",
        "FAC-10",
        "HRB-01",
        "HRB-02",
        "HZC-13",
        "MED-01",
        "MED-02",
        "MED-03",
    },
    "GB 9448-2025": {"HOT-10", "HOT-11", "HOT-14"},
    "应急管理部令第19号": {"HOT-04"},
}


def test_no_item_cites_a_superseded_edition() -> None:
    for path in LIBRARY_FILES:
        data = _load(path)
        old = {s["number"] for s in data["sources"] if s["in_force"] is False}
        citing = [i["code"] for i in data["items"] if i["basis"]["number"] in old]
        assert not citing, (path.stem, citing)


def test_the_items_on_unread_editions_are_the_known_ones() -> None:
    on_unread: dict[str, set[str]] = {}
    for path in LIBRARY_FILES:
        for item in _load(path)["items"]:
            if item["basis"]["number"] in ON_UNREAD_EDITIONS:
                on_unread.setdefault(item["basis"]["number"], set()).add(item["code"])
                assert item["verified"] is False, item["code"]
                assert "未读到" in item["basis"]["text"], item["code"]
    assert on_unread == ON_UNREAD_EDITIONS


def test_gb_35181_2025_items_name_only_chapter_5_and_their_2017_element() -> None:
    for path in LIBRARY_FILES:
        data = _load(path)
        for item in data["items"]:
            basis = item["basis"]
            if basis["number"] != "GB 35181-2025":
                continue
            assert (basis["document"], basis["article"]) == ("重大火灾隐患判定规则", "第5章")
            assert re.search(r"GB 35181-2017 中为 6\.\d+ 直接判定要素", basis["text"]), item["code"]
            assert data["effective_from"] >= "2025-11-01", path.stem
        assert not any(s["number"] == "GB 35181-2017" for s in data["sources"]), path.stem


def test_fire_lane_item_cites_the_use_phase_rule() -> None:
    basis = _items("high_rise")["HRB-07"]["basis"]
    assert (basis["document"], basis["article"]) == ("中华人民共和国消防法", "第二十八条")
    assert "消防车通道" in basis["text"]


@pytest.mark.parametrize("path", LIBRARY_FILES, ids=lambda p: p.stem)
def test_no_version_takes_effect_before_the_sources_it_cites(path: Path) -> None:
    data = _load(path)
    starts = data.get("effective_from") or date.today().isoformat()
    cited = {(i["basis"]["document"], i["basis"]["number"]) for i in data["items"]}
    for source in data["sources"]:
        if (source["title"], source["number"]) in cited and source["effective"]:
            assert source["effective"] <= starts, (source["title"], source["effective"], starts)


def test_confined_space_identification_is_major_only_when_both_parts_fail() -> None:
    item = _items("confined_space")["CFS-01"]
    assert "并且未设置明显的安全警示标志" in item["basis"]["text"]
    assert "或者" in item["text"] and "二者均未做到" in item["text"]


def test_oxygen_range_is_the_entry_condition_of_the_confined_space_standard() -> None:
    item = _items("confined_space")["CFS-10"]
    assert (item["basis"]["number"], item["basis"]["article"]) == ("GB 46768-2025", "5.9.1 a)")
    assert "19.5% VOL~23.5% VOL" in item["basis"]["text"]
    assert (item["min"], item["max"]) == (19.5, 23.5)


def test_hazardous_chemicals_storage_cites_the_law() -> None:
    for industry, code in (("hazardous_chemicals", "HZC-14"), ("medical_elderly_care", "MED-04")):
        basis = _items(industry)[code]["basis"]
        assert (basis["document"], basis["article"]) == (
            "中华人民共和国危险化学品安全法",
            "第四十一条",
        )


def test_gb_38600_has_its_real_title() -> None:
    item = _items("medical_elderly_care")["MED-15"]
    assert (item["basis"]["document"], item["basis"]["number"]) == (
        "养老机构服务安全基本规范",
        "GB 38600-2019",
    )


def test_shanghai_ebike_items_cite_article_29_not_a_chapter() -> None:
    for industry in ("ebike_charging", "medical_elderly_care"):
        for item in _items(industry).values():
            if item["basis"]["document"] == "上海市非机动车安全管理条例":
                assert item["basis"]["article"].startswith(("第二十九条", "第十条")), item["code"]


def test_hazardous_chemicals_description_does_not_claim_all_twenty() -> None:
    data = _load(LIBRARY_DIR / "hazardous_chemicals.yaml")
    assert "二十项情形；" not in data["description"]
    assert "（十九）项尚无条目" in data["description"]


def test_api_serves_sources_and_verified(app, client, make, login) -> None:
    assert app.test_cli_runner().invoke(args=["checklists", "load"]).exit_code == 0
    body = client.get("/api/v1/checklists/hot_work", headers=login(make.user())).json
    titles = {s["title"] for s in body["sources"]}
    assert {"上海市消防条例", "焊接与切割安全"} <= titles
    assert "上海市消防条例（2020年修正）" in body["standards"]
    hot15 = next(i for i in body["items"] if i["code"] == "HOT-15")
    assert hot15["verified"] is True
    gb9448 = next(s for s in body["sources"] if s["title"] == "焊接与切割安全")
    assert (gb9448["number"], gb9448["in_force"], gb9448["effective"]) == (
        "GB 9448-2025",
        True,
        "2026-08-01",
    )
    assert body["effective_from"] == "2026-08-01"


# --- coverage of the major-hazard criteria ----------------------------------------


def test_readme_coverage_section_is_current() -> None:
    readme = (LIBRARY_DIR / "README.md").read_text(encoding="utf-8")
    expected = replace_coverage_section(readme, render_coverage(read_library()))
    assert readme == expected, "run `fieldsafe checklists coverage --readme`"


def test_major_item_citing_an_unlisted_situation_is_a_problem() -> None:
    data = _load(LIBRARY_DIR / "factory_warehouse.yaml")
    data["coverage"] = [c for c in data["coverage"] if c["article"] != "第十一条第（五）项"]
    assert check_sources(data) == [
        "item FAC-18, field basis.article: 《工贸企业重大事故隐患判定标准》（应急管理部令第10号）"
        "第十一条第（五）项 is not a situation listed in coverage"
    ]


def test_coverage_entry_of_an_undeclared_criterion_is_a_problem() -> None:
    data = _load(LIBRARY_DIR / "gas_catering.yaml")
    entry = {"document": "某标准", "number": "X-1", "article": "1", "situation": ""}
    data["coverage"].append(entry)
    assert check_sources(data) == ["coverage: 《某标准》（X-1） is not declared in sources"]


def test_coverage_shows_gaps_and_the_items_covering_each_situation() -> None:
    report = render_coverage(read_library())
    chem = report.split("(`hazardous_chemicals`)")[1].split("### ")[0]
    assert chem.startswith(": 20 of 21 covered")
    assert "| 第（十九）项 | （条文未读到） | **—** |" in chem
    assert "| 第（六）项 | 液化烃储罐注水措施 | HZC-17 |" in chem
    assert "(`ebike_charging`): 0 of 0 covered" in report


def test_coverage_command_prints_the_report(app) -> None:
    result = app.test_cli_runner().invoke(args=["checklists", "coverage"])
    assert result.exit_code == 0
    assert result.output == render_coverage(read_library())


def test_readme_table_gives_the_library_counts() -> None:
    readme = (LIBRARY_DIR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)\.yaml` \| [^|]+ \| (\d+) \| (\d+) \| (\d+) \|$", readme, re.M)
    table = {ind: {"items": int(n), "major": int(m), "verified": int(v)} for ind, n, m, v in rows}
    assert table == item_counts(read_library())
