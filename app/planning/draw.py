"""The 双随机 draw: a pure, deterministic, verifiable function.

``draw(seed, population, pool, params)`` picks inspection targets at random per risk level and a
team of inspectors for each target. Its output depends only on

* the seed bytes (committed to before the draw as ``seed_commitment = sha256(seed).hexdigest()``),
* the frozen population (enterprises) and frozen pool (inspectors) -- order does not matter,
  records are sorted by id before use,
* the parameters (rates per risk level, team size, 异地交叉, exclusion window, ``as_of`` date),
* the algorithm version (``ALGORITHM_VERSION``),

so anyone holding the published record can recompute it (``verify``). Nothing here uses Python's
``random``: its generator is not a documented contract across versions.

Algorithm ``fs-draw-1`` (this is the contract; a change of any step needs a new version string):

1. Canonical form. Every enterprise is ``{"id", "risk_level", "jurisdiction",
   "last_inspected_at"}`` (ISO date or null); every inspector ``{"id", "jurisdiction",
   "department", "certificate_expires", "conflicts"}`` (ISO date or null; conflicts a sorted
   list of enterprise ids). ``canonical_json`` is JSON with sorted keys, no whitespace, UTF-8
   (``ensure_ascii=False``). ``population_digest`` / ``pool_digest`` are the SHA-256 hex digests
   of the canonical JSON of the list of records sorted by id (ids compared as Unicode code
   points, which is the same order as their UTF-8 bytes). ``params_digest`` likewise.
2. Random stream. ``stream(label)`` is the concatenation of the blocks
   ``HMAC-SHA256(key=seed, msg=b"fs-draw-1" 0x00 label 0x00 counter)`` for counter = 0, 1, 2 …
   (counter as 8 bytes big-endian, label UTF-8), read as consecutive unsigned big-endian 64-bit
   integers (four per block). ``uniform(n)`` takes the next integer ``x`` and rejects it while
   ``x >= 2**64 - (2**64 mod n)``, then returns ``x mod n`` (exactly uniform on ``0..n-1``).
3. Enterprise exclusions. With ``exclude_inspected_within_days = N > 0``, an enterprise whose
   ``last_inspected_at`` is later than ``as_of - N days`` (inspected within the last N days) is
   excluded with reason ``recently_inspected``; N = 0 excludes nobody.
4. Targets, per risk level in the order ``high``, ``medium``, ``low``: the eligible enterprises of
   the level sorted by id (N of them) give ``k = ceil(rate * N)`` targets, computed exactly on the
   decimal rate (every rate is > 0, so a non-empty level always yields at least one target: no
   level is exempt; each eligible enterprise is drawn with probability exactly k/N, which is
   within 1/N above the rate). The k targets are the first k positions of a partial
   Fisher-Yates shuffle of that list driven by ``stream("targets/<level>")``: for i in 0..k-1,
   j = i + uniform(N - i), swap positions i and j. Draw order is high targets, then medium,
   then low, each in shuffle order.
5. Inspector exclusions. An inspector whose certificate is missing (``certificate_missing``) or
   expires before ``as_of`` (``certificate_expired``) is out of the pool.
6. Teams, driven by ``stream("teams")``. Every remaining inspector (sorted by id) first receives
   a tie-break key ``uniform(2**64)`` — equivalently the next 64-bit integer. For each target in
   draw order, candidates are the pool inspectors that do not declare a conflict with the target
   and, under 异地交叉, whose jurisdiction differs from the target's. The team is the
   ``team_size`` candidates with the smallest ``(load, tie-break key, id)`` — least loaded first,
   ties decided by the seed. Each chosen inspector's load goes up by one and, in team order,
   gets a fresh tie-break key (the next integer of the stream). A target with fewer than
   ``team_size`` candidates is excluded with ``no_eligible_team`` and consumes no randomness.
7. Recorded exclusions: each excluded enterprise (``recently_inspected``, ``no_eligible_team``),
   each excluded inspector (``certificate_missing``, ``certificate_expired``), each
   (inspector, target) pair where a pool inspector declared a conflict with a drawn target
   (``conflict``), and, under 异地交叉, one ``same_jurisdiction`` entry per jurisdiction that has
   drawn targets (its own inspectors do not inspect them). ``result_digest`` is the SHA-256 of
   the canonical JSON of ``{"targets", "teams", "exclusions"}`` as returned by ``to_dict``.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from operator import attrgetter, itemgetter
from typing import Any

ALGORITHM_VERSION = "fs-draw-1"
RISK_LEVELS: tuple[str, ...] = ("high", "medium", "low")
MIN_SEED_BYTES = 16

# Exclusion reason codes (stable: they are published).
RECENTLY_INSPECTED = "recently_inspected"
NO_ELIGIBLE_TEAM = "no_eligible_team"
CERTIFICATE_MISSING = "certificate_missing"
CERTIFICATE_EXPIRED = "certificate_expired"
CONFLICT = "conflict"
SAME_JURISDICTION = "same_jurisdiction"

_U64 = 1 << 64


class DrawInputError(ValueError):
    """Raised when the draw's inputs or parameters are invalid."""


# --------------------------------------------------------------------------- inputs


def _as_date(value: date | str | None, what: str) -> date | None:
    if value is None:
        return None
    if type(value) is str:  # the frozen records' form, so the common case comes first
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            raise DrawInputError(f"{what}: not an ISO date: {value!r}") from None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            raise DrawInputError(f"{what}: not an ISO date: {value!r}") from None
    raise DrawInputError(f"{what}: not a date: {value!r}")


@dataclass(frozen=True, slots=True)
class Enterprise:
    """A frozen population record: only what the draw uses."""

    id: str
    risk_level: str
    jurisdiction: str
    last_inspected_at: date | None = None

    def to_record(self) -> dict[str, Any]:
        """Return the canonical record."""
        return {
            "id": self.id,
            "risk_level": self.risk_level,
            "jurisdiction": self.jurisdiction,
            "last_inspected_at": (
                self.last_inspected_at.isoformat() if self.last_inspected_at else None
            ),
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Enterprise:
        """Build from a canonical (or looser) record, validating it."""
        try:
            ent_id, risk, jur = rec["id"], rec["risk_level"], rec["jurisdiction"]
        except KeyError as exc:
            raise DrawInputError(f"enterprise record lacks {exc.args[0]!r}") from None
        # str() only where a value is not one already: a draw reads 100,000 of these.
        ent_id = ent_id if type(ent_id) is str else str(ent_id)
        risk = risk if type(risk) is str else str(risk)
        if risk not in RISK_LEVELS:
            raise DrawInputError(f"enterprise {ent_id}: unknown risk level {risk!r}")
        return cls(
            ent_id,
            risk,
            jur if type(jur) is str else str(jur),
            _as_date(rec.get("last_inspected_at"), "last_inspected_at"),
        )


@dataclass(frozen=True, slots=True)
class Inspector:
    """A frozen inspector-pool record."""

    id: str
    jurisdiction: str
    department: str | None = None
    certificate_expires: date | None = None
    conflicts: frozenset[str] = field(default_factory=frozenset)

    def to_record(self) -> dict[str, Any]:
        """Return the canonical record."""
        return {
            "id": self.id,
            "jurisdiction": self.jurisdiction,
            "department": self.department,
            "certificate_expires": (
                self.certificate_expires.isoformat() if self.certificate_expires else None
            ),
            "conflicts": sorted(self.conflicts),
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Inspector:
        """Build from a canonical (or looser) record, validating it."""
        try:
            dept = rec.get("department")
            return cls(
                id=str(rec["id"]),
                jurisdiction=str(rec["jurisdiction"]),
                department=None if dept is None else str(dept),
                certificate_expires=_as_date(rec.get("certificate_expires"), "certificate_expires"),
                conflicts=frozenset(str(c) for c in (rec.get("conflicts") or ())),
            )
        except KeyError as exc:
            raise DrawInputError(f"inspector record lacks {exc.args[0]!r}") from None


def _canonical_rate(value: Any, level: str) -> str:
    if isinstance(value, bool):
        raise DrawInputError(f"rates.{level}: not a number")
    try:
        dec = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DrawInputError(f"rates.{level}: not a number: {value!r}") from None
    if not dec.is_finite() or dec <= 0 or dec > 1:
        raise DrawInputError(f"rates.{level}: must be above 0 and at most 1 (no level exempt)")
    text = format(dec.normalize(), "f")
    return text


@dataclass(frozen=True)
class DrawParams:
    """Parameters of a draw; validated on construction."""

    rates: Mapping[str, Any]
    as_of: date
    team_size: int = 2
    cross_jurisdiction: bool = False
    exclude_inspected_within_days: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.rates, Mapping):
            raise DrawInputError("rates: must map each risk level to a rate")
        missing = [lvl for lvl in RISK_LEVELS if lvl not in self.rates]
        extra = sorted(set(self.rates) - set(RISK_LEVELS))
        if missing:
            raise DrawInputError(f"rates: missing level(s) {', '.join(missing)} (none is exempt)")
        if extra:
            raise DrawInputError(f"rates: unknown level(s) {', '.join(extra)}")
        canon = {lvl: _canonical_rate(self.rates[lvl], lvl) for lvl in RISK_LEVELS}
        object.__setattr__(self, "rates", canon)
        as_of = _as_date(self.as_of, "as_of")
        if as_of is None:
            raise DrawInputError("as_of: required")
        object.__setattr__(self, "as_of", as_of)
        if isinstance(self.team_size, bool) or not isinstance(self.team_size, int):
            raise DrawInputError("team_size: must be an integer")
        if self.team_size < 2:
            raise DrawInputError("team_size: at least 2 inspectors per team")
        if not isinstance(self.cross_jurisdiction, bool):
            raise DrawInputError("cross_jurisdiction: must be true or false")
        days = self.exclude_inspected_within_days
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise DrawInputError("exclude_inspected_within_days: a non-negative integer")

    def rate(self, level: str) -> Fraction:
        """Return the exact rate of a level."""
        return Fraction(self.rates[level])

    def to_dict(self) -> dict[str, Any]:
        """Return the canonical parameters."""
        return {
            "rates": dict(self.rates),
            "as_of": self.as_of.isoformat(),
            "team_size": self.team_size,
            "cross_jurisdiction": self.cross_jurisdiction,
            "exclude_inspected_within_days": self.exclude_inspected_within_days,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrawParams:
        """Build from a (canonical) dict."""
        known = {
            "rates",
            "as_of",
            "team_size",
            "cross_jurisdiction",
            "exclude_inspected_within_days",
        }
        extra = sorted(set(data) - known)
        if extra:
            raise DrawInputError(f"params: unknown field(s) {', '.join(extra)}")
        if "rates" not in data or "as_of" not in data:
            raise DrawInputError("params: rates and as_of are required")
        return cls(
            rates=data["rates"],
            as_of=data["as_of"],
            team_size=data.get("team_size", 2),
            cross_jurisdiction=data.get("cross_jurisdiction", False),
            exclude_inspected_within_days=data.get("exclude_inspected_within_days", 0),
        )


# --------------------------------------------------------------------------- canonical digests


def canonical_json(obj: Any) -> bytes:
    """Serialise to canonical JSON bytes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 hex digest of bytes."""
    return hashlib.sha256(data).hexdigest()


def seed_commitment(seed: bytes) -> str:
    """Return the published commitment to a seed: sha256(seed) in hex."""
    return sha256_hex(seed)


def _sorted_unique(items: Iterable[Any], what: str) -> list[Any]:
    out = sorted(items, key=attrgetter("id"))
    for a, b in zip(out, out[1:], strict=False):
        if a.id == b.id:
            raise DrawInputError(f"{what}: duplicate id {a.id}")
    return out


def freeze_population(population: Iterable[Enterprise | Mapping[str, Any]]) -> list[dict]:
    """Return the canonical population records, sorted by id."""
    ents = [e if isinstance(e, Enterprise) else Enterprise.from_record(e) for e in population]
    return [e.to_record() for e in _sorted_unique(ents, "population")]


def population_records(
    rows: Iterable[tuple[str, str, str, str | None]],
) -> list[dict[str, Any]]:
    """Return the canonical population records of ``(id, risk_level, jurisdiction,
    last_inspected_at)`` rows whose values are already canonical text (the date as
    ``YYYY-MM-DD`` or None), sorted by id: the registry's freeze, which reads 100,000 of them
    formatted by the database. Equal to ``freeze_population`` of the same enterprises."""
    records = [
        {"id": ent_id, "risk_level": risk, "jurisdiction": jur, "last_inspected_at": last}
        for ent_id, risk, jur, last in rows
    ]
    records.sort(key=itemgetter("id"))  # linear when the rows came sorted
    for a, b in zip(records, records[1:], strict=False):
        if a["id"] == b["id"]:
            raise DrawInputError(f"population: duplicate id {a['id']}")
    for rec in records:
        if rec["risk_level"] not in RISK_LEVELS:
            raise DrawInputError(
                f"enterprise {rec['id']}: unknown risk level {rec['risk_level']!r}"
            )
    return records


def freeze_pool(pool: Iterable[Inspector | Mapping[str, Any]]) -> list[dict]:
    """Return the canonical inspector-pool records, sorted by id."""
    insp = [i if isinstance(i, Inspector) else Inspector.from_record(i) for i in pool]
    return [i.to_record() for i in _sorted_unique(insp, "pool")]


def records_digest(records: Sequence[Mapping[str, Any]]) -> str:
    """Return the digest of already canonical, sorted records."""
    return sha256_hex(canonical_json(list(records)))


# --------------------------------------------------------------------------- randomness


class SeededStream:
    """The portable HMAC-SHA256 counter stream of 64-bit integers (see module docstring)."""

    __slots__ = ("_key", "_prefix", "_counter", "_buf", "_pos")

    def __init__(self, seed: bytes, label: str, version: str = ALGORITHM_VERSION) -> None:
        self._key = seed
        self._prefix = version.encode() + b"\x00" + label.encode() + b"\x00"
        self._counter = 0
        self._buf: tuple[int, ...] = ()
        self._pos = 0

    def next_u64(self) -> int:
        """Return the next unsigned 64-bit integer of the stream."""
        if self._pos >= len(self._buf):
            block = hmac.digest(
                self._key, self._prefix + self._counter.to_bytes(8, "big"), "sha256"
            )
            self._counter += 1
            self._buf = (
                int.from_bytes(block[0:8], "big"),
                int.from_bytes(block[8:16], "big"),
                int.from_bytes(block[16:24], "big"),
                int.from_bytes(block[24:32], "big"),
            )
            self._pos = 0
        value = self._buf[self._pos]
        self._pos += 1
        return value

    def uniform(self, n: int) -> int:
        """Return an exactly uniform integer in 0..n-1 by rejection sampling."""
        if n <= 0:
            raise ValueError("uniform(n) needs n > 0")
        limit = _U64 - (_U64 % n)
        x = self.next_u64()
        while x >= limit:
            x = self.next_u64()
        return x % n


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class Exclusion:
    """One recorded exclusion: who, why, and (for conflicts) from which target."""

    kind: str  # "enterprise" | "inspector" | "jurisdiction"
    id: str
    reason: str
    enterprise_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the published form."""
        out: dict[str, Any] = {"kind": self.kind, "id": self.id, "reason": self.reason}
        if self.enterprise_id is not None:
            out["enterprise_id"] = self.enterprise_id
        return out


@dataclass(frozen=True, slots=True)
class Assignment:
    """A drawn target and its team, in draw order."""

    enterprise_id: str
    risk_level: str
    jurisdiction: str
    inspector_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the published form."""
        return {
            "enterprise_id": self.enterprise_id,
            "risk_level": self.risk_level,
            "jurisdiction": self.jurisdiction,
            "inspector_ids": list(self.inspector_ids),
        }


@dataclass(frozen=True)
class DrawResult:
    """Everything a draw produces; ``to_dict`` is what gets stored and published."""

    algorithm_version: str
    seed_commitment: str
    population_digest: str
    pool_digest: str
    params_digest: str
    eligible: dict[str, int]
    selected: dict[str, tuple[str, ...]]
    teams: tuple[Assignment, ...]
    exclusions: tuple[Exclusion, ...]
    result_digest: str = ""

    def outcome_dict(self) -> dict[str, Any]:
        """Return targets, teams and exclusions (the part ``result_digest`` covers)."""
        return {
            "eligible": dict(self.eligible),
            "targets": {lvl: list(ids) for lvl, ids in self.selected.items()},
            "teams": [a.to_dict() for a in self.teams],
            "exclusions": [x.to_dict() for x in self.exclusions],
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the full stored form."""
        out = self.outcome_dict()
        out.update(
            algorithm_version=self.algorithm_version,
            seed_commitment=self.seed_commitment,
            population_digest=self.population_digest,
            pool_digest=self.pool_digest,
            params_digest=self.params_digest,
            result_digest=self.result_digest,
        )
        return out


# --------------------------------------------------------------------------- the draw


def draw(
    seed: bytes,
    population: Iterable[Enterprise | Mapping[str, Any]],
    pool: Iterable[Inspector | Mapping[str, Any]],
    params: DrawParams | Mapping[str, Any],
    algorithm_version: str = ALGORITHM_VERSION,
) -> DrawResult:
    """Draw targets and teams; a pure function of its arguments (see the module docstring)."""
    if algorithm_version != ALGORITHM_VERSION:
        raise DrawInputError(f"unknown algorithm version {algorithm_version!r}")
    if not isinstance(seed, bytes | bytearray) or len(seed) < MIN_SEED_BYTES:
        raise DrawInputError(f"seed: at least {MIN_SEED_BYTES} bytes")
    seed = bytes(seed)
    if not isinstance(params, DrawParams):
        params = DrawParams.from_dict(params)

    ents = _sorted_unique(
        (e if isinstance(e, Enterprise) else Enterprise.from_record(e) for e in population),
        "population",
    )
    for e in ents:
        if e.risk_level not in RISK_LEVELS:
            raise DrawInputError(f"enterprise {e.id}: unknown risk level {e.risk_level!r}")
    inspectors = _sorted_unique(
        (i if isinstance(i, Inspector) else Inspector.from_record(i) for i in pool), "pool"
    )
    population_digest = records_digest([e.to_record() for e in ents])
    pool_digest = records_digest([i.to_record() for i in inspectors])
    params_digest = sha256_hex(canonical_json(params.to_dict()))

    exclusions: list[Exclusion] = []

    # 3. enterprise exclusions, then strata (each already sorted by id).
    strata: dict[str, list[Enterprise]] = {lvl: [] for lvl in RISK_LEVELS}
    window = params.exclude_inspected_within_days
    bound = params.as_of - timedelta(days=window) if window > 0 else None
    for e in ents:
        if bound is not None and e.last_inspected_at is not None and e.last_inspected_at > bound:
            exclusions.append(Exclusion("enterprise", e.id, RECENTLY_INSPECTED))
        else:
            strata[e.risk_level].append(e)

    # 4. targets per level by partial Fisher-Yates.
    selected: dict[str, tuple[str, ...]] = {}
    order: list[Enterprise] = []
    eligible: dict[str, int] = {}
    for lvl in RISK_LEVELS:
        items = strata[lvl]
        n = len(items)
        eligible[lvl] = n
        k = math.ceil(params.rate(lvl) * n)
        stream = SeededStream(seed, f"targets/{lvl}", algorithm_version)
        arr = list(items)
        for i in range(k):
            j = i + stream.uniform(n - i)
            arr[i], arr[j] = arr[j], arr[i]
        picked = arr[:k]
        selected[lvl] = tuple(e.id for e in picked)
        order.extend(picked)

    # 5. inspector exclusions.
    active: list[Inspector] = []
    for insp in inspectors:
        if insp.certificate_expires is None:
            exclusions.append(Exclusion("inspector", insp.id, CERTIFICATE_MISSING))
        elif insp.certificate_expires < params.as_of:
            exclusions.append(Exclusion("inspector", insp.id, CERTIFICATE_EXPIRED))
        else:
            active.append(insp)

    # 6. teams: least-loaded first, ties by seeded keys; one heap per jurisdiction bucket.
    teams, team_exclusions = _assign_teams(seed, order, active, params, algorithm_version)
    exclusions.extend(team_exclusions)

    result = DrawResult(
        algorithm_version=algorithm_version,
        seed_commitment=seed_commitment(seed),
        population_digest=population_digest,
        pool_digest=pool_digest,
        params_digest=params_digest,
        eligible=eligible,
        selected=selected,
        teams=tuple(teams),
        exclusions=tuple(exclusions),
    )
    digest = sha256_hex(canonical_json(result.outcome_dict()))
    object.__setattr__(result, "result_digest", digest)
    return result


def _assign_teams(
    seed: bytes,
    order: Sequence[Enterprise],
    active: Sequence[Inspector],
    params: DrawParams,
    algorithm_version: str,
) -> tuple[list[Assignment], list[Exclusion]]:
    stream = SeededStream(seed, "teams", algorithm_version)
    cross = params.cross_jurisdiction
    team_size = params.team_size
    ids = [i.id for i in active]

    # Heap entries are [load, key, index]; lists compare element-wise, index makes them unique.
    buckets: dict[str, list[list[int]]] = {}
    conflicted_by: dict[str, list[int]] = {}
    for idx, insp in enumerate(active):
        entry = [0, stream.next_u64(), idx]
        buckets.setdefault(insp.jurisdiction if cross else "", []).append(entry)
        for ent_id in insp.conflicts:
            conflicted_by.setdefault(ent_id, []).append(idx)
    for heap in buckets.values():
        heapq.heapify(heap)
    bucket_list = sorted(buckets.items())
    all_heaps = [h for _, h in bucket_list]
    # Per target jurisdiction, the buckets it may draw from (the heaps are shared, mutable lists).
    others: dict[str, list[list[list[int]]]] = {}

    teams: list[Assignment] = []
    exclusions: list[Exclusion] = []
    same_jurisdiction_seen: set[str] = set()
    heappop, heappush = heapq.heappop, heapq.heappush

    for target in order:
        conflicted = conflicted_by.get(target.id)
        if conflicted:
            for idx in sorted(conflicted):
                exclusions.append(Exclusion("inspector", ids[idx], CONFLICT, target.id))
        if cross:
            same_jurisdiction_seen.add(target.jurisdiction)
            heaps = others.get(target.jurisdiction)
            if heaps is None:
                heaps = others[target.jurisdiction] = [
                    h for j, h in bucket_list if j != target.jurisdiction
                ]
        else:
            heaps = all_heaps
        skip = set(conflicted) if conflicted else None
        picked: list[tuple[list[list[int]], list[int]]] = []
        skipped: list[tuple[list[list[int]], list[int]]] = []
        while len(picked) < team_size:
            best_heap = None
            best_top = None
            for h in heaps:
                if h and (best_top is None or h[0] < best_top):
                    best_top = h[0]
                    best_heap = h
            if best_heap is None:
                break
            entry = heappop(best_heap)
            if skip is not None and entry[2] in skip:
                skipped.append((best_heap, entry))
            else:
                picked.append((best_heap, entry))
        if len(picked) < team_size:
            for h, entry in picked:
                heappush(h, entry)
            for h, entry in skipped:
                heappush(h, entry)
            exclusions.append(Exclusion("enterprise", target.id, NO_ELIGIBLE_TEAM))
            continue
        for h, entry in picked:
            heappush(h, [entry[0] + 1, stream.next_u64(), entry[2]])
        for h, entry in skipped:
            heappush(h, entry)
        teams.append(
            Assignment(
                target.id,
                target.risk_level,
                target.jurisdiction,
                tuple(ids[entry[2]] for _, entry in picked),
            )
        )
    for jur in sorted(same_jurisdiction_seen):
        exclusions.append(Exclusion("jurisdiction", jur, SAME_JURISDICTION))
    return teams, exclusions


# --------------------------------------------------------------------------- records and verify


def make_record(
    seed: bytes,
    population: Iterable[Enterprise | Mapping[str, Any]],
    pool: Iterable[Inspector | Mapping[str, Any]],
    params: DrawParams | Mapping[str, Any],
    result: DrawResult,
) -> dict[str, Any]:
    """Return a self-contained, JSON-serialisable record from which ``verify`` recomputes a draw."""
    if not isinstance(params, DrawParams):
        params = DrawParams.from_dict(params)
    return {
        "algorithm_version": result.algorithm_version,
        "seed": bytes(seed).hex(),
        "params": params.to_dict(),
        "population": freeze_population(population),
        "pool": freeze_pool(pool),
        "result": result.to_dict(),
    }


_RESULT_SCALARS = (
    "algorithm_version",
    "seed_commitment",
    "population_digest",
    "pool_digest",
    "params_digest",
    "result_digest",
)


def verify(record: Mapping[str, Any]) -> list[str]:
    """Recompute a draw from its stored record and list every difference (empty: it checks out).

    ``record`` holds ``algorithm_version``, ``seed`` (hex), ``params``, ``population`` and
    ``pool`` (frozen records) and the stored ``result``; a record may also carry
    ``seed_commitment``, ``population_digest`` and ``pool_digest`` at its top level (the values
    published at commit time), which are checked too.
    """
    diffs: list[str] = []
    try:
        seed = bytes.fromhex(str(record["seed"]))
        version = str(record.get("algorithm_version", ALGORITHM_VERSION))
        params = DrawParams.from_dict(record["params"])
        recomputed = draw(seed, record["population"], record["pool"], params, version)
    except (KeyError, TypeError, ValueError) as exc:
        return [f"record cannot be recomputed: {exc}"]

    # Frozen inputs must already be canonical (sorted, normalised) so their digests are stable.
    if list(record["population"]) != freeze_population(record["population"]):
        diffs.append("population: records are not in canonical form")
    if list(record["pool"]) != freeze_pool(record["pool"]):
        diffs.append("pool: records are not in canonical form")

    fresh = recomputed.to_dict()
    for key in ("seed_commitment", "population_digest", "pool_digest"):
        if key in record and record[key] != fresh[key]:
            diffs.append(f"{key}: published {record[key]}, recomputed {fresh[key]}")

    stored = record.get("result")
    if not isinstance(stored, Mapping):
        return [*diffs, "result: missing"]
    stored_outcome = {k: stored.get(k) for k in ("eligible", "targets", "teams", "exclusions")}
    if sha256_hex(canonical_json(stored_outcome)) != stored.get("result_digest"):
        diffs.append("result_digest: the stored outcome does not hash to its result_digest")
    for key in _RESULT_SCALARS:
        if stored.get(key) != fresh[key]:
            diffs.append(f"{key}: stored {stored.get(key)}, recomputed {fresh[key]}")
    if stored.get("eligible") != fresh["eligible"]:
        diffs.append(f"eligible: stored {stored.get('eligible')}, recomputed {fresh['eligible']}")
    stored_targets = stored.get("targets") or {}
    for lvl in RISK_LEVELS:
        if list(stored_targets.get(lvl) or []) != fresh["targets"][lvl]:
            diffs.append(f"targets.{lvl}: stored list differs from the recomputed one")
    stored_teams = {t.get("enterprise_id"): t for t in stored.get("teams") or []}
    fresh_teams = {t["enterprise_id"]: t for t in fresh["teams"]}
    for ent_id in sorted(set(stored_teams) | set(fresh_teams)):
        s, f = stored_teams.get(ent_id), fresh_teams.get(ent_id)
        if s is None:
            diffs.append(f"team for {ent_id}: missing from the record")
        elif f is None:
            diffs.append(f"team for {ent_id}: in the record but not drawn")
        elif s != f:
            stored_ids, fresh_ids = s.get("inspector_ids"), f["inspector_ids"]
            diffs.append(f"team for {ent_id}: stored {stored_ids}, recomputed {fresh_ids}")
    if [t.get("enterprise_id") for t in stored.get("teams") or []] != list(fresh_teams):
        diffs.append("teams: draw order differs")
    if list(stored.get("exclusions") or []) != fresh["exclusions"]:
        stored_x = {json.dumps(x, sort_keys=True) for x in stored.get("exclusions") or []}
        fresh_x = {json.dumps(x, sort_keys=True) for x in fresh["exclusions"]}
        for x in sorted(stored_x - fresh_x):
            diffs.append(f"exclusion in the record but not recomputed: {x}")
        for x in sorted(fresh_x - stored_x):
            diffs.append(f"exclusion recomputed but missing from the record: {x}")
        if stored_x == fresh_x:
            diffs.append("exclusions: order differs")
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    """``python3 verify-draw.py RECORD.json``: recompute a published draw, say if it matches.

    This file is the draw itself, published as it runs on the server (``/public/sampling``):
    standard-library Python 3, so anyone can read and run it without trusting the server.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        description="核验一次双随机抽取：由公开的抽取记录重新计算结果 (verify a published draw)"
    )
    parser.add_argument(
        "record", help="抽取记录 JSON 文件，- 表示标准输入 (the record; - for stdin)"
    )
    args = parser.parse_args(argv)
    with sys.stdin if args.record == "-" else open(args.record, encoding="utf-8") as f:
        record = json.load(f)
    diffs = verify(record)
    if diffs:
        print("核验不通过 / NOT verified:")
        for d in diffs:
            print(f"  - {d}")
        return 1
    targets = record["result"]["targets"]
    drawn = sum(len(ids) for ids in targets.values())
    print(f"核验通过 / verified: {drawn} 个抽查对象与种子重新计算的结果完全一致")
    print(f"seed_commitment = sha256(seed) = {seed_commitment(bytes.fromhex(record['seed']))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
