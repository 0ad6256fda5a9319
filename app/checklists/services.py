"""The checklist library: validate the files, publish changed ones as new versions, serve them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.services import record
from app.changelog import record_change
from app.checklists.models import ChecklistVersion
from app.checklists.sources import basis_key, check_library_sources, check_sources, source_key
from app.db import session
from app.errors import DomainError
from app.i18n import _

LIBRARY_DIR = Path(__file__).resolve().parents[2] / "checklists"
#: Editions take effect on China dates.
CHINA_TZ = timezone(timedelta(hours=8))


class ChecklistLoadError(Exception):
    """Invalid files; nothing was imported. `problems` names each file, item and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class LoadReport:
    published: list[tuple[str, int]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def canonical_digest(content: dict[str, Any]) -> str:
    """Return the SHA-256 hex of the canonical JSON of a checklist."""
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validator(directory: Path) -> Draft202012Validator:
    schema = json.loads((directory / "schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _where(data: Any, path: list[Any]) -> str:
    """Name the place of a schema error: the item's code when inside an item, then the field."""
    if len(path) >= 2 and path[0] == "items" and isinstance(path[1], int):
        items = data.get("items") if isinstance(data, dict) else None
        item = items[path[1]] if isinstance(items, list) and path[1] < len(items) else None
        code = item.get("code") if isinstance(item, dict) else None
        label = f"item {code}" if code else f"item #{path[1] + 1}"
        rest = ".".join(str(p) for p in path[2:])
        return f"{label}, field {rest}" if rest else label
    return "field " + ".".join(str(p) for p in path) if path else "file"


def read_library(directory: Path = LIBRARY_DIR) -> dict[str, dict[str, Any]]:
    """Parse and validate every checklist file; raise ChecklistLoadError listing every problem."""
    validator = _validator(directory)
    problems: list[str] = []
    library: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(f"{path.name}: not valid YAML: {exc}")
            continue
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        for err in errors:
            problems.append(f"{path.name}: {_where(data, list(err.absolute_path))}: {err.message}")
        if errors:
            continue
        if data["industry"] != path.stem:
            problems.append(
                f"{path.name}: field industry: '{data['industry']}' must equal the "
                f"file name '{path.stem}'"
            )
        seen: set[str] = set()
        for item in data["items"]:
            if item["code"] in seen:
                problems.append(f"{path.name}: item {item['code']}, field code: duplicate code")
            seen.add(item["code"])
        problems.extend(f"{path.name}: {problem}" for problem in check_sources(data))
        library[path.stem] = data
    problems.extend(check_library_sources(library))
    if not library and not problems:
        problems.append(f"{directory}: no checklist files (*.yaml)")
    if problems:
        raise ChecklistLoadError(problems)
    return library


def load_library(directory: Path = LIBRARY_DIR, *, now: datetime) -> LoadReport:
    """Publish every changed checklist file as a new immutable version (published at `now`);
    all or nothing."""
    library = read_library(directory)
    report = LoadReport()
    latest = {cv.industry: cv for cv in _latest_versions()}
    for industry, content in library.items():
        digest = canonical_digest(content)
        current = latest.get(industry)
        if current is not None and current.digest == digest:
            report.unchanged.append(industry)
            continue
        version = (current.version + 1) if current else 1
        published_at = now
        cv = ChecklistVersion(
            industry=industry,
            version=version,
            name=content["name"],
            digest=digest,
            content=content,
            published_at=published_at,
            effective_from=_effective_from(content, published_at),
        )
        session.add(cv)
        session.flush()
        record(
            "checklist.publish",
            "checklist",
            f"{industry}@{version}",
            {"digest": digest, "items": len(content["items"])},
            actor=None,
        )
        _publish_to_feed(cv)
        report.published.append((industry, version))
    session.flush()
    return report


def _effective_from(content: dict[str, Any], published_at: datetime) -> date:
    """Return the day a new version takes effect: the file's `effective_from`, else today."""
    declared = content.get("effective_from")
    if declared:
        return date.fromisoformat(declared)
    return published_at.astimezone(CHINA_TZ).date()


def _publish_to_feed(cv: ChecklistVersion) -> None:
    """Put a new checklist version into the devices' sync feed."""
    record_change("checklist", cv, "put")


def _latest_versions() -> list[ChecklistVersion]:
    newest = (
        select(ChecklistVersion.industry, func.max(ChecklistVersion.version).label("v"))
        .group_by(ChecklistVersion.industry)
        .subquery()
    )
    stmt = (
        select(ChecklistVersion)
        .join(
            newest,
            (ChecklistVersion.industry == newest.c.industry)
            & (ChecklistVersion.version == newest.c.v),
        )
        .order_by(ChecklistVersion.industry)
    )
    return list(session.execute(stmt).scalars())


def versions_in_force(on: date, db: Session | None = None) -> dict[str, int]:
    """Return, per industry, the version inspections dated `on` pin: the newest in force that day.

    A version is in force from its `effective_from` (NULL: from its publication, i.e. always
    before any later version). When no version of an industry is in force yet on `on`, its
    first version is returned, so an inspection dated before the library existed has one.
    `db` is the session to read (the request's by default).
    """
    rows = (db or session).execute(
        select(ChecklistVersion.industry, ChecklistVersion.version, ChecklistVersion.effective_from)
    )
    pinned: dict[str, int] = {}
    first: dict[str, int] = {}
    for industry, version, effective_from in rows:
        first[industry] = min(first.get(industry, version), version)
        if (effective_from is None or effective_from <= on) and version > pinned.get(industry, 0):
            pinned[industry] = version
    return {industry: pinned.get(industry, v) for industry, v in first.items()}


def china_date(moment: datetime) -> date:
    """Return the China date of `moment`: the day editions are judged on."""
    return moment.astimezone(CHINA_TZ).date()


def list_latest() -> list[ChecklistVersion]:
    """Return the latest version of each industry's checklist."""
    return _latest_versions()


def get_checklist(industry: str, version: int | None = None) -> ChecklistVersion:
    """Return one published version (the latest when `version` is None), or 404."""
    stmt = select(ChecklistVersion).where(ChecklistVersion.industry == industry)
    if version is None:
        stmt = stmt.order_by(ChecklistVersion.version.desc()).limit(1)
    else:
        stmt = stmt.where(ChecklistVersion.version == version)
    cv = session.execute(stmt).scalars().first()
    if cv is None:
        message = (
            _(
                "There is no version %(version)s of the '%(industry)s' checklist.",
                version=version,
                industry=industry,
            )
            if version
            else _("There is no checklist for industry '%(industry)s'.", industry=industry)
        )
        raise DomainError("checklist.not_found", 404, message)
    return cv


#: Each checklist version's items by code, keyed by the version's digest. A version is
#: immutable and its digest is the SHA-256 of its content, so an entry is never stale; the
#: push validates findings against it without reading and decoding the checklist each time.
_ITEMS_BY_DIGEST: dict[str, dict[str, dict[str, Any]]] = {}
_ITEMS_CACHED = 256


def items_by_digest(
    digests: Collection[str], db: Session | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Return ``{digest: {item_code: item}}`` of the published versions with these digests.

    Read from the database only for digests this process has not seen; the answer's dicts
    are shared, so callers read them and never change them.
    """
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for digest in set(digests):
        items = _ITEMS_BY_DIGEST.get(digest)
        if items is not None:
            found[digest] = items
    missing = sorted(set(digests) - found.keys())
    if missing:
        if len(_ITEMS_BY_DIGEST) + len(missing) > _ITEMS_CACHED:
            _ITEMS_BY_DIGEST.clear()
        rows = (db or session).execute(
            select(ChecklistVersion.digest, ChecklistVersion.content).where(
                ChecklistVersion.digest.in_(missing)
            )
        )
        for digest, content in rows:
            items = {it["code"]: it for it in content.get("items", [])}
            found[digest] = _ITEMS_BY_DIGEST[digest] = items
    return found


def checklist_item(cv: ChecklistVersion, code: str) -> dict[str, Any] | None:
    """Return the item `code` of a checklist version, or None.

    Its ``basis`` names the edition it was judged under: the declared source's ``edition``,
    ``effective`` date and whether it is ``in_force``, and the checklist ``version`` it is from,
    so a finding or a ticket made under a superseded edition keeps saying so.
    """
    item = next((i for i in cv.content["items"] if i["code"] == code), None)
    if item is None:
        return None
    basis = dict(item.get("basis") or {})
    source = next(
        (s for s in cv.content.get("sources", []) if basis and source_key(s) == basis_key(item)),
        None,
    )
    if source is not None:
        basis.update(
            edition=source.get("edition"),
            effective=source.get("effective"),
            in_force=source.get("in_force"),
        )
    return {**item, "basis": basis, "checklist_version": cv.version}


def etag_of(cv: ChecklistVersion) -> str:
    """Return the ETag of a checklist version: its digest, quoted."""
    return f'"{cv.digest}"'


def _standards(content: dict[str, Any]) -> list[str]:
    """Name the declared sources as the free-text `standards` list older clients read."""
    return [
        f"{s['title']}（{s['number']}）" if s["number"] else s["title"]
        for s in content.get("sources", [])
    ]


def serialize(cv: ChecklistVersion) -> dict[str, Any]:
    """Return the full representation of a checklist version (also used by the sync feed)."""
    content = cv.content
    return {
        "industry": cv.industry,
        "version": cv.version,
        "name": cv.name,
        "digest": cv.digest,
        "published_at": cv.published_at,
        "effective_from": cv.effective_from.isoformat() if cv.effective_from else None,
        "description": content.get("description", ""),
        "standards": content.get("standards") or _standards(content),
        "sources": content.get("sources", []),
        "items": content["items"],
    }
