"""Enterprise import from CSV and XLSX: validate every row first, all or nothing, upsert by USCC."""

from __future__ import annotations

import csv
import io
import random

from openpyxl import Workbook
from sqlalchemy import func, select

from app.registry.models import Enterprise
from app.registry.uscc import make_uscc

RNG = random.Random(23)
HEADER = [
    "企业名称",
    "统一社会信用代码",
    "行业",
    "街道",
    "地址",
    "风险等级",
    "经度",
    "纬度",
    "负责人",
    "联系电话",
]


def rows(n: int) -> list[list]:
    """Return n valid rows, mixing slugs/Chinese names and codes/street names."""
    out = []
    for i in range(n):
        out.append(
            [
                f"上海导入测试企业{i}",
                make_uscc(RNG),
                "燃气餐饮" if i % 2 else "factory_warehouse",
                "华阳路街道" if i % 3 else "xinhualu",
                f"长宁路{i}号",
                ["高", "中", "低", "high"][i % 4],
                121.4265,
                31.2195,
                "李强",
                13900000000 + i,
            ]
        )
    return out


def as_csv(table: list[list], encoding: str = "utf-8-sig") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(table)
    return buf.getvalue().encode(encoding)


def as_xlsx(table: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in table:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def count(db_session) -> int:
    return db_session.scalar(select(func.count()).select_from(Enterprise))


def post_file(client, headers, data: bytes, name: str = "enterprises.csv"):
    return client.post(
        "/api/v1/enterprises/import",
        headers=headers,
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_csv_import_creates_then_reimport_updates(client, make, login, db_session):
    headers = login(make.user("planner"))
    table = [HEADER, *rows(12)]
    before = count(db_session)
    resp = post_file(client, headers, as_csv(table))
    assert resp.status_code == 200, resp.json
    assert resp.json == {"rows": 12, "created": 12, "updated": 0, "unchanged": 0}
    assert count(db_session) == before + 12
    ent = db_session.execute(select(Enterprise).where(Enterprise.uscc == table[1][1])).scalar_one()
    assert ent.industry == "factory_warehouse" and ent.jurisdiction_code == "xinhualu"
    assert ent.risk_level == "high" and ent.principal_phone == "13900000000"
    second = db_session.execute(
        select(Enterprise).where(Enterprise.uscc == table[2][1])
    ).scalar_one()
    assert second.industry == "gas_catering" and second.jurisdiction_code == "huayanglu"
    assert second.risk_level == "medium"

    again = post_file(client, headers, as_csv(table))
    assert again.json == {"rows": 12, "created": 0, "updated": 0, "unchanged": 12}
    table[2][5] = "低"  # was 中
    changed = post_file(client, headers, as_csv(table))
    assert changed.json == {"rows": 12, "created": 0, "updated": 1, "unchanged": 11}
    assert count(db_session) == before + 12


def test_xlsx_import_with_raw_body_and_gb18030_csv(client, make, login, db_session):
    headers = login(make.user("admin"))
    before = count(db_session)
    resp = client.post(
        "/api/v1/enterprises/import",
        headers=headers,
        data=as_xlsx([HEADER, *rows(5)]),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["created"] == 5
    gbk = post_file(client, headers, as_csv([HEADER, *rows(3)], "gb18030"))
    assert gbk.status_code == 200, gbk.json
    assert count(db_session) == before + 8


def test_every_bad_row_is_listed_and_nothing_is_imported(client, make, login, db_session):
    headers = login(make.user("planner"))
    table = [HEADER, *rows(8)]
    good = table[1][1]
    table[2][1] = good[:17] + ("0" if good[17] != "0" else "1")  # wrong check character
    table[3][2] = "采矿"  # unknown industry
    table[4][3] = "浦东新区"  # unknown street
    table[5][6], table[5][7] = 116.40, 39.90  # Beijing
    table[6][1] = good  # duplicate of row 2
    table[7][5] = "极高"  # unknown risk level
    table[8][0] = ""  # no name
    before = count(db_session)
    for data in (as_csv(table), as_xlsx(table)):
        resp = post_file(client, headers, data)
        assert resp.status_code == 422
        assert resp.json["code"] == "registry.import_invalid"
        errors = resp.json["errors"]
        assert set(errors) == {"3", "4", "5", "6", "7", "8", "9"}
        assert set(errors["3"]) == {"uscc"}
        assert set(errors["4"]) == {"industry"}
        assert set(errors["5"]) == {"jurisdiction"}
        assert set(errors["6"]) == {"lat"}
        assert "row 2" in errors["7"]["uscc"][0]
        assert set(errors["8"]) == {"risk_level"}
        assert set(errors["9"]) == {"name"}
    assert count(db_session) == before


def test_missing_columns_and_empty_files(client, make, login):
    headers = login(make.user("planner"))
    resp = post_file(client, headers, as_csv([["企业名称", "地址"], ["x", "y"]]))
    assert resp.status_code == 422 and set(resp.json["errors"]["header"]) == {
        "uscc",
        "industry",
        "jurisdiction",
        "risk_level",
    }
    assert post_file(client, headers, as_csv([HEADER])).json["code"] == "registry.import_empty"
    assert post_file(client, headers, b"").status_code == 422
    broken = post_file(client, headers, b"PK\x03\x04not really a zip", "x.xlsx")
    assert broken.status_code == 422 and broken.json["code"] == "registry.import_unreadable"


def test_street_planner_cannot_import_into_other_streets(client, make, login, db_session):
    headers = login(make.user("planner", jurisdiction="huayanglu"))
    table = [HEADER, *rows(3)]  # row 2 is in xinhualu
    resp = post_file(client, headers, as_csv(table))
    assert resp.status_code == 422 and set(resp.json["errors"]) == {"2"}


def test_inspectors_cannot_import(client, make, login):
    resp = post_file(client, login(make.user("inspector")), as_csv([HEADER, *rows(1)]))
    assert resp.status_code == 403
