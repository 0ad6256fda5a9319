"""The enterprise registry (检查对象名录库): scoped queries, edits and validated bulk import."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError

from app.audit.services import record
from app.changelog import record_changes, record_moves
from app.db import for_update, iter_chunks, session
from app.errors import MESSAGES, DomainError, not_found
from app.i18n import _
from app.org.models import Jurisdiction, User
from app.org.services import can_see_jurisdiction, scope_filter
from app.registry.models import Enterprise
from app.registry.uscc import valid_uscc

#: Industry slugs (as in checklists/<industry>.yaml) and their Chinese names.
INDUSTRY_NAMES: dict[str, str] = {
    "commercial_complex": "大型商业综合体",
    "medical_elderly_care": "医疗养老机构",
    "hazardous_chemicals": "危险化学品",
    "gas_catering": "燃气餐饮",
    "factory_warehouse": "厂房仓库",
    "confined_space": "有限空间",
    "high_rise": "高层建筑",
    "ebike_charging": "电动自行车充电",
    "construction_decoration": "施工装潢",
    "hot_work": "电气焊作业",
}
RISK_WORDS: dict[str, str] = {
    "high": "high",
    "medium": "medium",
    "low": "low",
    "高": "high",
    "中": "medium",
    "低": "low",
    "高风险": "high",
    "中风险": "medium",
    "低风险": "low",
}
MAX_IMPORT_ROWS = 50_000


def district_bounds() -> tuple[float, float, float, float]:
    """Return (lat_min, lon_min, lat_max, lon_max): FIELDSAFE_DISTRICT_BOUNDS."""
    raw = str(current_app.config["DISTRICT_BOUNDS"])
    lat_min, lon_min, lat_max, lon_max = (float(x) for x in raw.split(","))
    return lat_min, lon_min, lat_max, lon_max


def _location_error(lat: float, lon: float) -> str | None:
    lat_min, lon_min, lat_max, lon_max = district_bounds()
    if not (lat_min <= lat <= lat_max and lon_min <= lon <= lon_max):
        return _(
            "(%(lat)s, %(lon)s) lies outside the district (latitude %(lat_min)s–%(lat_max)s, "
            "longitude %(lon_min)s–%(lon_max)s); check the coordinates (经度 is longitude).",
            lat=lat,
            lon=lon,
            lat_min=lat_min,
            lat_max=lat_max,
            lon_min=lon_min,
            lon_max=lon_max,
        )
    return None


# --------------------------------------------------------------------------- queries


def list_enterprises(user: User, args: dict[str, Any]) -> Select[Any]:
    """Query enterprises in the caller's scope by industry, jurisdiction, risk and name."""
    stmt = select(Enterprise).where(scope_filter(user, Enterprise.jurisdiction_code, Enterprise.id))
    if args.get("industry"):
        stmt = stmt.where(Enterprise.industry == args["industry"])
    if args.get("jurisdiction"):
        stmt = stmt.where(Enterprise.jurisdiction_code == args["jurisdiction"])
    if args.get("risk_level"):
        stmt = stmt.where(Enterprise.risk_level == args["risk_level"])
    if args.get("q"):
        q = args["q"].strip()
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(Enterprise.name.ilike(pattern, escape="\\"), Enterprise.uscc == q.upper())
        )
    return stmt.order_by(Enterprise.name, Enterprise.id)


def get_enterprise(user: User, enterprise_id: uuid.UUID, lock: bool = False) -> Enterprise:
    """Return an enterprise in the caller's scope, or 404; with `lock`, locked for a write."""
    stmt = select(Enterprise).where(
        Enterprise.id == enterprise_id,
        scope_filter(user, Enterprise.jurisdiction_code, Enterprise.id),
    )
    ent = session.execute(for_update(stmt) if lock else stmt).scalar_one_or_none()
    if ent is None:
        raise not_found("enterprise")
    return ent


# --------------------------------------------------------------------------- single edits


def _jurisdiction_codes() -> dict[str, str]:
    """Map every jurisdiction code and Chinese name to its code."""
    out: dict[str, str] = {}
    for code, name in session.execute(select(Jurisdiction.code, Jurisdiction.name)):
        out[code] = code
        out[name] = code
    return out


def _check_fields(user: User, data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if "industry" in data and data["industry"] not in INDUSTRY_NAMES:
        errors["industry"] = [
            _("Unknown industry; use one of: %(choices)s.", choices=", ".join(INDUSTRY_NAMES))
        ]
    if "jurisdiction" in data:
        code = data["jurisdiction"]
        if session.get(Jurisdiction, code) is None:
            errors["jurisdiction"] = [_("Unknown jurisdiction code.")]
        elif not can_see_jurisdiction(user, code):
            errors["jurisdiction"] = [_("This jurisdiction is outside your scope.")]
    loc = data.get("location")
    if loc:
        problem = _location_error(loc["lat"], loc["lon"])
        if problem:
            errors["location"] = [problem]
    return errors


#: What ``_apply`` changed of an enterprise: ``{attribute: [old, new]}``.
Changes = dict[str, list[Any]]


def _apply(ent: Enterprise, data: dict[str, Any]) -> Changes:
    """Set the given fields on `ent`; return {field: [old, new]} for those that changed."""
    values: dict[str, Any] = {}
    for key in ("name", "uscc", "industry", "address", "risk_level"):
        if key in data:
            values[key] = data[key]
    if "jurisdiction" in data:
        values["jurisdiction_code"] = data["jurisdiction"]
    if "location" in data:
        loc = data["location"]
        values["lat"] = loc["lat"] if loc else None
        values["lon"] = loc["lon"] if loc else None
    if "principal" in data:
        principal = data["principal"] or {}
        if "name" in principal:
            values["principal_name"] = principal["name"]
        if "phone" in principal:
            values["principal_phone"] = principal["phone"]
    changes: dict[str, list[Any]] = {}
    for attr, value in values.items():
        if getattr(ent, attr) != value:
            changes[attr] = [getattr(ent, attr), value]
            setattr(ent, attr, value)
    return changes


#: Called after enterprises already registered were edited, in the same transaction, with
#: ``{enterprise id: the names of the fields that changed}``: a domain whose records show an
#: enterprise's fields (an inspection its name and address, a ticket the same) puts those
#: records back into the devices' feed, so no device keeps showing the old ones.
EditedHook = Callable[[Mapping[uuid.UUID, frozenset[str]]], None]


@dataclass(frozen=True)
class RegistryHooks:
    """What other domains plug into the registry: one per app, made in ``app.wiring``."""

    edited: tuple[EditedHook, ...] = ()


def registry_hooks() -> RegistryHooks:
    """Return this app's registry hooks (none when the app wired none)."""
    return current_app.extensions.get("registry_hooks") or RegistryHooks()


def _publish(
    enterprises: list[Enterprise], edited: Sequence[tuple[Enterprise, Changes]] = ()
) -> None:
    """Put written enterprises into the devices' sync feed; ``edited``: those of them already
    registered, with what changed. One that changed jurisdiction also gets a row in the one
    it left (whose devices learn it from the log); the registry's hooks then republish the
    records that show the changed fields."""
    record_changes("enterprise", enterprises)
    record_moves(
        "enterprise",
        [
            (ent, changes["jurisdiction_code"][0])
            for ent, changes in edited
            if "jurisdiction_code" in changes
        ],
    )
    if edited:
        fields = {ent.id: frozenset(changes) for ent, changes in edited}
        for hook in registry_hooks().edited:
            hook(fields)


def _flush_unique(ent: Enterprise) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise DomainError(
            "registry.duplicate_uscc",
            409,
            _(
                "An enterprise with 统一社会信用代码 %(uscc)s is already registered; "
                "edit that one instead.",
                uscc=ent.uscc,
            ),
        ) from exc


def create_enterprise(user: User, data: dict[str, Any]) -> Enterprise:
    """Register an enterprise in the caller's scope."""
    errors = _check_fields(user, data)
    if errors:
        raise DomainError("validation_error", 422, _(MESSAGES[422]), errors)
    ent = Enterprise(address="")
    _apply(ent, data)
    session.add(ent)
    _flush_unique(ent)
    _publish([ent])
    record(
        "enterprise.create", "enterprise", ent.id, {"uscc": ent.uscc, "name": ent.name}, actor=user
    )
    return ent


def update_enterprise(user: User, ent: Enterprise, data: dict[str, Any]) -> Enterprise:
    """Change an enterprise's registry fields."""
    errors = _check_fields(user, data)
    if errors:
        raise DomainError("validation_error", 422, _(MESSAGES[422]), errors)
    changes = _apply(ent, data)
    if changes:
        ent.version += 1
        _flush_unique(ent)
        _publish([ent], [(ent, changes)])
        record("enterprise.update", "enterprise", ent.id, {"changes": changes}, actor=user)
    return ent


# --------------------------------------------------------------------------- import

#: Accepted column headers (Chinese as in the registry's spreadsheets, or the API's names).
HEADERS: dict[str, str] = {
    "企业名称": "name",
    "单位名称": "name",
    "name": "name",
    "统一社会信用代码": "uscc",
    "信用代码": "uscc",
    "uscc": "uscc",
    "行业": "industry",
    "行业类别": "industry",
    "industry": "industry",
    "街道": "jurisdiction",
    "街道（镇）": "jurisdiction",
    "街镇": "jurisdiction",
    "jurisdiction": "jurisdiction",
    "地址": "address",
    "address": "address",
    "风险等级": "risk_level",
    "risk_level": "risk_level",
    "经度": "lon",
    "lon": "lon",
    "longitude": "lon",
    "纬度": "lat",
    "lat": "lat",
    "latitude": "lat",
    "负责人": "principal_name",
    "principal_name": "principal_name",
    "联系电话": "principal_phone",
    "电话": "principal_phone",
    "principal_phone": "principal_phone",
}
REQUIRED_COLUMNS = ("name", "uscc", "industry", "jurisdiction", "risk_level")
COLUMN_LABELS = {
    "name": "企业名称",
    "uscc": "统一社会信用代码",
    "industry": "行业",
    "jurisdiction": "街道",
    "address": "地址",
    "risk_level": "风险等级",
    "lon": "经度",
    "lat": "纬度",
    "principal_name": "负责人",
    "principal_phone": "联系电话",
}


@dataclass
class ImportRow:
    number: int
    values: dict[str, str]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e6:
        return str(int(value))  # a phone number Excel stored as a number
    return str(value).strip()


def _read_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    """Yield (spreadsheet row number, cells) from XLSX or CSV bytes."""
    if data[:4] == b"PK\x03\x04":
        from openpyxl import load_workbook

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl warns about styles it ignores
                book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
                sheet = book.worksheets[0]
                rows = [list(r) for r in sheet.iter_rows(values_only=True)]
                book.close()
        except Exception as exc:  # noqa: BLE001 - any unreadable workbook is the caller's problem
            raise DomainError(
                "registry.import_unreadable",
                422,
                _(
                    "The XLSX file could not be read; save it again from Excel or "
                    "upload it as CSV (UTF-8)."
                ),
            ) from exc
        yield from enumerate(rows, start=1)
        return
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly anything
        raise DomainError(
            "registry.import_unreadable", 422, _("The CSV file is neither UTF-8 nor GB18030 text.")
        )
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise DomainError(
            "registry.import_unreadable",
            422,
            _("The CSV file could not be parsed; save it again as CSV (UTF-8)."),
        ) from exc
    yield from enumerate(rows, start=1)


def parse_import(data: bytes) -> list[ImportRow]:
    """Turn CSV/XLSX bytes into rows keyed by field name; refuse a file without its columns."""
    header: dict[int, str] | None = None
    rows: list[ImportRow] = []
    for number, cells in _read_rows(data):
        texts = [_cell_text(c) for c in cells]
        if not any(texts):
            continue
        if header is None:
            header = {}
            unknown = []
            for i, label in enumerate(texts):
                key = HEADERS.get(label) or HEADERS.get(label.lower())
                if key:
                    header[i] = key
                elif label:
                    unknown.append(label)
            missing = [c for c in REQUIRED_COLUMNS if c not in header.values()]
            if missing:
                raise DomainError(
                    "registry.import_invalid",
                    422,
                    # i18n: %(columns)s lists the spreadsheet's own (Chinese) column headers.
                    _(
                        "The first row must name the columns; missing: %(columns)s.",
                        columns="、".join(COLUMN_LABELS[c] for c in missing),
                    ),
                    {"header": {c: [_("Missing column.")] for c in missing}},
                )
            continue
        values = {key: texts[i] if i < len(texts) else "" for i, key in header.items()}
        rows.append(ImportRow(number, values))
        if len(rows) > MAX_IMPORT_ROWS:
            raise DomainError(
                "registry.import_too_large",
                413,
                _("At most %(rows)s rows per import; split the file.", rows=MAX_IMPORT_ROWS),
            )
    if header is None or not rows:
        raise DomainError(
            "registry.import_empty", 422, _("The file has no data rows under a header row.")
        )
    return rows


def _validate_row(
    row: ImportRow, user: User, jurisdictions: dict[str, str], seen: dict[str, int]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    v = row.values
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}

    def err(field: str, message: str) -> None:
        # i18n: %(column)s is the spreadsheet's own (Chinese) column header; %(problem)s one of
        # the row problems (required, at most … characters, …).
        errors.setdefault(field, []).append(
            _("%(column)s: %(problem)s", column=COLUMN_LABELS[field], problem=message)
        )

    name = v.get("name", "")
    if not name:
        err("name", _("required."))
    elif len(name) > 200:
        err("name", _("at most %(limit)s characters.", limit=200))
    out["name"] = name

    uscc = v.get("uscc", "").upper()
    if not uscc:
        err("uscc", _("required."))
    elif not valid_uscc(uscc):
        err(
            "uscc",
            _(
                "%(uscc)s is not a valid 统一社会信用代码 (length, characters or check character).",
                uscc=uscc,
            ),
        )
    elif uscc in seen:
        err("uscc", _("%(uscc)s appears again (first on row %(row)s).", uscc=uscc, row=seen[uscc]))
    else:
        seen[uscc] = row.number
    out["uscc"] = uscc

    industry = v.get("industry", "")
    slug = (
        industry
        if industry in INDUSTRY_NAMES
        else next((s for s, n in INDUSTRY_NAMES.items() if n == industry), None)
    )
    if slug is None:
        err("industry", _("unknown industry %(industry)r.", industry=industry))
    out["industry"] = slug

    jur = v.get("jurisdiction", "")
    code = jurisdictions.get(jur) or jurisdictions.get(jur.lower())
    if code is None:
        err("jurisdiction", _("unknown street/town %(name)r.", name=jur))
    elif not can_see_jurisdiction(user, code):
        err("jurisdiction", _("%(name)s is outside your scope.", name=jur))
    out["jurisdiction"] = code

    address = v.get("address", "")
    if len(address) > 300:
        err("address", _("at most %(limit)s characters.", limit=300))
    out["address"] = address

    risk = RISK_WORDS.get(v.get("risk_level", "").lower())
    if risk is None:
        err("risk_level", _("use 高/中/低 (or high/medium/low)."))
    out["risk_level"] = risk

    lat_s, lon_s = v.get("lat", ""), v.get("lon", "")
    out["location"] = None
    if lat_s or lon_s:
        coords: dict[str, float] = {}
        for key, text in (("lat", lat_s), ("lon", lon_s)):
            try:
                coords[key] = float(text)
            except ValueError:
                err(
                    key,
                    _("%(value)r is not a number.", value=text)
                    if text
                    else _("required with the other coordinate."),
                )
        if len(coords) == 2:
            problem = _location_error(coords["lat"], coords["lon"])
            if problem:
                err("lat", problem)
            else:
                out["location"] = coords
    for key, limit in (("principal_name", 100), ("principal_phone", 40)):
        if len(v.get(key, "")) > limit:
            err(key, _("at most %(limit)s characters.", limit=limit))
    out["principal"] = {
        "name": v.get("principal_name") or None,
        "phone": v.get("principal_phone") or None,
    }
    return out, errors


def _existing_by_uscc(usccs: Iterable[str]) -> dict[str, Enterprise]:
    # Locked (in USCC order, so two imports lock alike) like a PATCH's row: an edit committed
    # meanwhile is read, not overwritten with a version number it already used.
    found: dict[str, Enterprise] = {}
    for chunk in iter_chunks(sorted(usccs), 500):
        stmt = select(Enterprise).where(Enterprise.uscc.in_(chunk)).order_by(Enterprise.uscc)
        for ent in session.execute(for_update(stmt)).scalars():
            found[ent.uscc] = ent
    return found


def import_enterprises(user: User, data: bytes) -> dict[str, int]:
    """Validate every row of a CSV/XLSX file, then create or update by USCC (all or nothing)."""
    rows = parse_import(data)
    jurisdictions = _jurisdiction_codes()
    seen: dict[str, int] = {}
    parsed: list[dict[str, Any]] = []
    errors: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        values, row_errors = _validate_row(row, user, jurisdictions, seen)
        if row_errors:
            errors[str(row.number)] = row_errors
        parsed.append(values)
    existing = _existing_by_uscc(v["uscc"] for v in parsed if v["uscc"] in seen)
    for row, values in zip(rows, parsed, strict=True):
        ent = existing.get(values["uscc"])
        if (
            ent is not None
            and seen.get(values["uscc"]) == row.number
            and not can_see_jurisdiction(user, ent.jurisdiction_code)
        ):
            errors.setdefault(str(row.number), {}).setdefault("uscc", []).append(
                _(
                    "%(column)s: %(problem)s",
                    column=COLUMN_LABELS["uscc"],
                    problem=_("registered in a jurisdiction outside your scope."),
                )
            )
    if errors:
        raise DomainError(
            "registry.import_invalid",
            422,
            _(
                "%(bad)s of %(rows)s rows are not valid; nothing was imported. "
                "Fix the rows listed in errors (by row number) and import the file again.",
                bad=len(errors),
                rows=len(rows),
            ),
            errors,
        )
    created = updated = unchanged = 0
    written: list[Enterprise] = []
    edited: list[tuple[Enterprise, Changes]] = []
    for values in parsed:
        ent = existing.get(values["uscc"])
        if ent is None:
            ent = Enterprise(id=uuid.uuid4(), address="")
            _apply(ent, values)
            session.add(ent)
            created += 1
            written.append(ent)
        elif changes := _apply(ent, values):
            ent.version += 1
            updated += 1
            written.append(ent)
            edited.append((ent, changes))
        else:
            unchanged += 1
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise DomainError(
            "registry.import_conflict",
            409,
            _(
                "Another import registered some of these enterprises at the same "
                "time; import the file again."
            ),
        ) from exc
    _publish(written, edited)
    summary = {"rows": len(rows), "created": created, "updated": updated, "unchanged": unchanged}
    record(
        "enterprise.import",
        "enterprise",
        None,
        {**summary, "file_sha256": hashlib.sha256(data).hexdigest()},
        actor=user,
    )
    return summary
