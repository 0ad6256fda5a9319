"""What field work a device sends: typed, validated values the inspection services act on.

Pure data (no database, no Flask): ``app.sync.mutations`` reads a device's JSON into these,
and ``app.inspections.fieldwork`` applies them. A device-side client can import them too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

FINDING_RESULTS = ("pass", "fail", "na")
FINDING_GRADES = ("general", "major")
MAX_PHOTOS = 50
#: Measures taken on the spot (安全生产法 第六十五条 第一款 第三、四项), written into the
#: 现场处理措施决定书: 责令立即排除, 从危险区域内撤出作业人员, 责令暂时停产停业, 责令暂时停止使用
#: 相关设施、设备, 查封, 扣押.
ONSITE_MEASURES = ("eliminate_now", "evacuate", "suspend", "stop_use", "seal", "detain")
MAX_MEASURES = 10


@dataclass(frozen=True)
class Location:
    """A GPS fix; ``accuracy`` in metres."""

    lat: float
    lon: float
    accuracy: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """Return the JSON form."""
        return {"lat": self.lat, "lon": self.lon, "accuracy": self.accuracy}


@dataclass(frozen=True)
class Measure:
    """A measure ordered on the spot, and what it applies to (e.g. which boiler)."""

    code: str
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the JSON form."""
        return {"code": self.code, "note": self.note}


@dataclass(frozen=True)
class CheckIn:
    """``inspection.check_in``: the inspector is on site."""

    inspection_id: uuid.UUID
    at: datetime
    location: Location


#: finding fields a ``finding.put`` may carry besides its identity; ``fields_set`` names
#: the ones the device actually sent, so an absent field is not mistaken for a cleared one
FINDING_PUT_FIELDS = (
    "item_code",
    "result",
    "note",
    "grade",
    "photos",
    "location",
    "recorded_at",
    "value",
    "measures",
)


@dataclass(frozen=True)
class FindingPut:
    """``finding.put``: create a finding or update the fields sent.

    A new finding needs ``item_code``, ``result`` and ``recorded_at``; an update may leave out
    any field, which then keeps its stored value (``fields_set`` names those sent).
    """

    id: uuid.UUID
    inspection_id: uuid.UUID
    item_code: str | None = None
    result: str | None = None
    recorded_at: datetime | None = None
    note: str | None = None
    grade: str | None = None
    photos: tuple[str, ...] = ()
    location: Location | None = None
    #: The measured value, in the item's ``unit``, for items that ask for one (录入实测值).
    value: float | None = None
    #: Measures ordered on the spot for this finding (see :data:`ONSITE_MEASURES`).
    measures: tuple[Measure, ...] = ()
    base_version: int | None = None
    fields_set: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class FindingDelete:
    """``finding.delete``: remove a finding (a delete beats any edit)."""

    id: uuid.UUID


@dataclass(frozen=True)
class InspectionSubmit:
    """``inspection.submit``: lock the inspection's findings and send it for review."""

    inspection_id: uuid.UUID
    at: datetime


@dataclass(frozen=True)
class InspectionCreate:
    """``inspection.create``: a routine patrol started on the device."""

    id: uuid.UUID
    enterprise_id: uuid.UUID
    industry: str
    type: str = "routine"
