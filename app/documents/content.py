"""What each document says, built from the record: pure (no database, no Flask, no clock).

The services gather a :class:`Record` from the inspection, its findings, tickets, rechecks and
signatures; :func:`build` turns it into a :class:`Content` (title, 文号, the header fields,
numbered paragraphs, photos, signature slots) in the catalog's words, which ``app.documents.pdf``
lays out. The same record always gives the same content: nothing here reads the time, and
every list is taken in the order the record gives it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from app.documents.wording import Wording, words

CHINA_TZ = timezone(timedelta(hours=8))
RESULT_KEYS = {"pass": "result.pass", "fail": "result.fail", "na": "result.na"}


@dataclass(frozen=True)
class Party:
    """The inspected unit."""

    name: str
    address: str
    uscc: str
    principal: str
    phone: str


@dataclass(frozen=True)
class Officer:
    """An enforcement officer of the team, with their certificate (执法证号)."""

    key: str
    name: str
    certificate_no: str


@dataclass(frozen=True)
class Checked:
    """A checklist item as the inspection answered it."""

    code: str
    text: str
    result: str | None
    note: str = ""
    grade: str = "general"
    basis: dict[str, Any] | None = None
    photos: tuple[str, ...] = ()
    measures: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Ticket:
    """A hazard ticket an order, decision or recheck names."""

    number: str
    description: str
    grade: str
    deadline: datetime
    basis: dict[str, Any] | None = None
    item_code: str | None = None


@dataclass(frozen=True)
class Rechecked:
    """One ticket a recheck visit covered, its result and the order that set it."""

    ticket: Ticket
    result: str
    order_number: str | None = None
    order_date: datetime | None = None


@dataclass(frozen=True)
class Signed:
    """A signature (or a recorded refusal) for one slot of the document."""

    role: str
    key: str
    name: str
    signed_at: datetime
    place: str = ""
    image_sha256: str | None = None
    refused: bool = False
    witness: str = ""


@dataclass(frozen=True)
class Record:
    """Everything a document is built from."""

    kind: str
    number: str
    code: str
    department: str
    party: Party
    place: str
    started_at: datetime
    ended_at: datetime | None
    officers: tuple[Officer, ...]
    checklist: str = ""
    items: tuple[Checked, ...] = ()
    tickets: tuple[Ticket, ...] = ()
    rechecks: tuple[Rechecked, ...] = ()
    signatures: tuple[Signed, ...] = ()
    #: photo SHA-256 → when it was taken (EXIF), where known
    photo_times: dict[str, datetime] = field(default_factory=dict)
    verify_url: str = ""
    review_body: str = ""
    court: str = ""


@dataclass(frozen=True)
class Block:
    """A paragraph: ``style`` is heading, para, item or small."""

    style: str
    text: str


@dataclass(frozen=True)
class Photo:
    """A photo of the appendix and its caption."""

    sha256: str
    caption: str


@dataclass(frozen=True)
class Slot:
    """A signature line: who signs, and the signature or refusal once given."""

    label: str
    name: str = ""
    certificate: str = ""
    image_sha256: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Content:
    """A document as printed."""

    kind: str
    title: str
    number: str
    department: str
    fields: tuple[tuple[str, str], ...]
    blocks: tuple[Block, ...]
    photos: tuple[Photo, ...]
    #: the heading of the photo appendix ("" without photos)
    appendix: str
    slots: tuple[Slot, ...]
    date: str
    seal: str
    verify_url: str
    verify_text: str

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON form kept with the document."""
        return _lists(dataclasses.asdict(self))

    def text(self) -> str:
        """Return every word of the document, in reading order (what the PDF prints)."""
        parts = [self.title, self.number]
        parts += [f"{label}：{value}" for label, value in self.fields]
        parts += [b.text for b in self.blocks]
        parts += [self.appendix] if self.photos else []
        parts += [p.caption for p in self.photos]
        parts += [f"{s.label} {s.name} {s.certificate} {s.note}".strip() for s in self.slots]
        parts += [self.seal, self.date, self.verify_text]
        return "\n".join(parts)


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value


def _local(at: datetime) -> datetime:
    return at.astimezone(CHINA_TZ)


def date_text(say: Wording, at: datetime) -> str:
    """A date as the documents write it: 2026年12月1日."""
    t = _local(at)
    return say("date", y=t.year, m=t.month, d=t.day)


def datetime_text(say: Wording, at: datetime) -> str:
    """A time to the minute: 2026年12月1日10时05分."""
    t = _local(at)
    return say("datetime", y=t.year, m=t.month, d=t.day, H=f"{t.hour:02d}", M=f"{t.minute:02d}")


def basis_text(basis: dict[str, Any] | None) -> str:
    """A legal basis cited to the article: 《…判定标准》（建城规〔2023〕4号）第九条第（一）项."""
    if not basis:
        return ""
    document = basis.get("document") or ""
    number = basis.get("number") or ""
    article = basis.get("article") or ""
    cited = f"《{document}》" if document else ""
    if number:
        cited += f"（{number}）"
    return cited + article


def _party_fields(say: Wording, r: Record) -> list[tuple[str, str]]:
    p = r.party
    return [
        (say("party"), p.name),
        (say("address"), p.address),
        (say("uscc"), p.uscc),
        (say("principal"), p.principal),
        (say("principal_title"), say("principal_title.value") if p.principal else ""),
        (say("phone"), p.phone),
    ]


def _signature(r: Record, role: str, key: str) -> Signed | None:
    return next((s for s in r.signatures if s.role == role and s.key == key), None)


def _slots(say: Wording, r: Record, unit_label: str) -> tuple[Slot, ...]:
    slots = []
    for officer in r.officers:
        signed = _signature(r, "inspector", officer.key)
        slots.append(
            Slot(
                say("sign.inspector"),
                officer.name,
                f"{say('certificate')}：{officer.certificate_no}",
                signed.image_sha256 if signed else None,
                _when(say, signed),
            )
        )
    signed = _signature(r, "representative", "representative")
    if signed is not None and signed.refused:
        note = say("sign.refused", witness=signed.witness) + "　" + _when(say, signed)
        slots.append(Slot(unit_label, signed.name, "", None, note))
    else:
        slots.append(
            Slot(
                unit_label,
                signed.name if signed else "",
                "",
                signed.image_sha256 if signed else None,
                _when(say, signed),
            )
        )
    return tuple(slots)


def _when(say: Wording, signed: Signed | None) -> str:
    if signed is None:
        return ""
    when = datetime_text(say, signed.signed_at)
    return say("sign.at", date=when, place=signed.place) if signed.place else when


def _photos(say: Wording, r: Record) -> tuple[tuple[Photo, ...], dict[str, list[int]]]:
    photos: list[Photo] = []
    figures: dict[str, list[int]] = {}
    seen: dict[str, int] = {}
    for item in r.items:
        for sha in item.photos:
            if sha not in seen:
                seen[sha] = len(photos) + 1
                n = seen[sha]
                taken = r.photo_times.get(sha)
                caption = (
                    say("photos.caption", n=n, item=item.code, at=datetime_text(say, taken))
                    if taken
                    else say("photos.caption.untimed", n=n, item=item.code)
                )
                photos.append(Photo(sha, caption))
            figures.setdefault(item.code, []).append(seen[sha])
    return tuple(photos), figures


def _record(
    say: Wording, r: Record
) -> tuple[list[tuple[str, str]], list[Block], tuple[Photo, ...]]:
    fields = _party_fields(say, r)
    fields.append((say("place"), r.place))
    end = datetime_text(say, r.ended_at) if r.ended_at else ""
    fields.append((say("time"), say("time.range", start=datetime_text(say, r.started_at), end=end)))
    for o in r.officers:
        fields.append((say("inspectors"), f"{o.name}　{say('certificate')}：{o.certificate_no}"))
    photos, figures = _photos(say, r)
    blocks = [
        Block("heading", say("record.checked")),
        Block("para", say("record.opening", checklist=r.checklist)),
    ]
    failed = 0
    for n, item in enumerate(r.items, start=1):
        result = say(RESULT_KEYS.get(item.result or "", "result.missing"))
        major = say("finding.major") if item.result == "fail" and item.grade == "major" else ""
        blocks.append(Block("item", f"{n}. [{item.code}] {item.text}　{result}{major}"))
        if item.note:
            blocks.append(Block("small", say("finding.note", note=item.note)))
        if item.result == "fail":
            failed += 1
            if item.basis:
                blocks.append(Block("small", say("finding.basis", basis=basis_text(item.basis))))
        if item.code in figures:
            numbers = "、".join(str(f) for f in figures[item.code])
            blocks.append(Block("small", say("finding.photos", figures=numbers)))
    blocks.append(Block("para", say("record.summary", items=len(r.items), failed=failed)))
    return fields, blocks, photos


def _remedies(say: Wording, r: Record, key: str) -> Block:
    return Block("para", say(key, review=r.review_body, court=r.court))


def _order(say: Wording, r: Record) -> list[Block]:
    blocks = [
        Block("para", say("order.opening", party=r.party.name)),
        Block("para", say("order.found")),
    ]
    for n, t in enumerate(r.tickets, start=1):
        major = say("finding.major") if t.grade == "major" else ""
        blocks.append(Block("item", f"{n}. {t.description}{major}（{t.number}）"))
        if t.basis:
            cited = basis_text(t.basis)
            if t.basis.get("text"):
                blocks.append(
                    Block("small", say("order.item.judged", basis=cited, text=t.basis["text"]))
                )
            blocks.append(Block("small", say("order.item.breaks", basis=cited)))
        blocks.append(Block("small", say("order.item.deadline", date=date_text(say, t.deadline))))
    blocks += [
        Block("para", say("order.authority")),
        Block("para", say("order.meanwhile")),
        _remedies(say, r, "remedies.order"),
    ]
    return blocks


def _decision(say: Wording, r: Record) -> list[Block]:
    blocks = [
        Block("para", say("order.opening", party=r.party.name)),
        Block("para", say("decision.found", place=r.place)),
    ]
    measured = [i for i in r.items if i.measures]
    for n, item in enumerate(measured, start=1):
        major = say("finding.major") if item.grade == "major" else ""
        blocks.append(Block("item", f"{n}. [{item.code}] {item.note or item.text}{major}"))
        if item.basis:
            blocks.append(Block("small", say("finding.basis", basis=basis_text(item.basis))))
    blocks.append(Block("para", say("decision.authority")))
    m = 0
    for n, item in enumerate(measured, start=1):
        for code, note in item.measures:
            m += 1
            extra = f"：{note}" if note else ""
            measure = say(f"measure.{code}")
            blocks.append(
                Block(
                    "item", f"{m}. " + say("decision.measure", measure=measure, item=n, note=extra)
                )
            )
    blocks.append(_remedies(say, r, "remedies.decision"))
    return blocks


def _recheck(say: Wording, r: Record) -> list[Block]:
    on = date_text(say, r.started_at)
    blocks = [Block("para", say("order.opening", party=r.party.name))]
    orders = sorted({(x.order_number, x.order_date) for x in r.rechecks if x.order_number})
    if len(orders) == 1 and all(x.order_number for x in r.rechecks):
        number, date = orders[0]
        issued = date_text(say, date) if date else ""
        blocks.append(Block("para", say("recheck.opening", date=issued, number=number, on=on)))
    else:
        numbers = "、".join(x.ticket.number for x in r.rechecks)
        blocks.append(Block("para", say("recheck.opening.tickets", numbers=numbers, on=on)))
    failed = False
    for n, x in enumerate(r.rechecks, start=1):
        t = x.ticket
        blocks.append(
            Block("item", f"{n}. {t.description}（{say('recheck.ticket', number=t.number)}）")
        )
        if x.result == "pass":
            blocks.append(Block("small", say("recheck.passed")))
        else:
            failed = True
            blocks.append(Block("small", say("recheck.failed", date=date_text(say, t.deadline))))
    if failed:
        blocks.append(Block("para", say("recheck.consequence")))
    return blocks


def build(r: Record, language: str = "zh") -> Content:
    """Build the content of ``r.kind`` from the record, in the catalog's words."""
    say = words(language)
    photos: tuple[Photo, ...] = ()
    if r.kind == "inspection_record":
        fields, blocks, photos = _record(say, r)
        unit = say("sign.representative")
    else:
        fields = []
        build_blocks = {
            "rectification_order": _order,
            "onsite_measures": _decision,
            "recheck_opinion": _recheck,
        }[r.kind]
        blocks = build_blocks(say, r)
        unit = say("sign.unit")
    issued = r.ended_at or r.started_at
    return Content(
        kind=r.kind,
        title=say(f"title.{r.kind}"),
        number=r.number,
        department=r.department,
        fields=tuple(fields),
        blocks=tuple(blocks),
        photos=photos,
        appendix=say("photos.title") if photos else "",
        slots=_slots(say, r, unit),
        date=f"{r.department}　{date_text(say, issued)}",
        seal=say("seal"),
        verify_url=r.verify_url,
        verify_text=say("verify.caption", url=r.verify_url, code=r.code),
    )


def number_text(department: str, kind: str, year: int, seq: int, language: str = "zh") -> str:
    """The 文号: 区应急管理局责改〔2026〕0001号."""
    say = words(language)
    return say(
        "number", department=department, abbr=say(f"abbr.{kind}"), year=year, seq=f"{seq:04d}"
    )
