"""The 双随机 draw: determinism, validation, fairness, exclusions, verification."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.planning.draw import (
    ALGORITHM_VERSION,
    DrawInputError,
    DrawParams,
    Enterprise,
    Inspector,
    SeededStream,
    draw,
    freeze_pool,
    freeze_population,
    make_record,
    population_records,
    records_digest,
    seed_commitment,
    verify,
)

AS_OF = date(2026, 6, 1)
JURS = ["huayanglu", "jiangsulu", "xinhualu", "zhoujiaqiao", "tianshanlu"]
RATES = {"high": "0.5", "medium": "0.3", "low": "0.1"}


def seed_for(i: int) -> bytes:
    """Return a reproducible 32-byte test seed."""
    return hashlib.sha256(f"test-seed-{i}".encode()).digest()


def make_population(n: int, recent_every: int = 0) -> list[Enterprise]:
    """Build n enterprises spread over levels and jurisdictions."""
    levels = ["high", "medium", "medium", "low", "low", "low"]
    out = []
    for i in range(n):
        recent = recent_every and i % recent_every == 0
        out.append(
            Enterprise(
                id=f"ent-{i:04d}",
                risk_level=levels[i % len(levels)],
                jurisdiction=JURS[i % len(JURS)],
                last_inspected_at=AS_OF - timedelta(days=10) if recent else None,
            )
        )
    return out


def make_pool(n: int, conflicts: dict[int, set[str]] | None = None) -> list[Inspector]:
    """Build n inspectors with valid certificates, spread over jurisdictions."""
    conflicts = conflicts or {}
    return [
        Inspector(
            id=f"insp-{i:03d}",
            jurisdiction=JURS[(i * 7) % len(JURS)],
            department="emergency",
            certificate_expires=AS_OF + timedelta(days=365),
            conflicts=frozenset(conflicts.get(i, set())),
        )
        for i in range(n)
    ]


def params(**kw) -> DrawParams:
    """Build draw parameters with test defaults."""
    base = dict(rates=RATES, as_of=AS_OF, team_size=2)
    base.update(kw)
    return DrawParams(**base)


# --------------------------------------------------------------------------- the stream contract


def test_stream_matches_the_documented_construction():
    seed = seed_for(0)
    stream = SeededStream(seed, "targets/high")
    got = [stream.next_u64() for _ in range(6)]
    expected = []
    for counter in range(2):
        block = hmac.new(
            seed, b"fs-draw-1\x00targets/high\x00" + counter.to_bytes(8, "big"), hashlib.sha256
        ).digest()
        expected += [int.from_bytes(block[i : i + 8], "big") for i in range(0, 32, 8)]
    assert got == expected[:6]


def test_uniform_is_in_range_and_covers_it():
    stream = SeededStream(seed_for(1), "x")
    values = [stream.uniform(7) for _ in range(2000)]
    assert set(values) == set(range(7))
    assert stream.uniform(1) == 0


def test_known_answer_pins_the_algorithm():
    """A change of this digest means the algorithm changed: bump ALGORITHM_VERSION instead."""
    result = draw(seed_for(42), make_population(60, recent_every=9), make_pool(12), params())
    assert result.algorithm_version == ALGORITHM_VERSION == "fs-draw-1"
    assert result.selected["high"] == ("ent-0054", "ent-0042", "ent-0048", "ent-0006", "ent-0024")
    assert result.result_digest == (
        "b11859049d1d28e4e5e045eb638f0e5e4e954c02e5497b546862d9cec4cf60eb"
    )


def test_targets_follow_the_documented_construction():
    """Re-implement step 4 of the module docstring from scratch and compare."""
    seed = seed_for(43)
    pop = make_population(90)
    result = draw(seed, pop, make_pool(10), params())

    def u64s(label):
        counter = 0
        while True:
            msg = b"fs-draw-1\x00" + label.encode() + b"\x00" + counter.to_bytes(8, "big")
            block = hmac.new(seed, msg, hashlib.sha256).digest()
            for i in range(0, 32, 8):
                yield int.from_bytes(block[i : i + 8], "big")
            counter += 1

    for lvl, rate in (("high", 5), ("medium", 3), ("low", 1)):
        ids = sorted(e.id for e in pop if e.risk_level == lvl)
        k = -(-rate * len(ids) // 10)  # ceil(rate/10 * n) in integers
        gen = u64s(f"targets/{lvl}")
        for i in range(k):
            n = len(ids) - i
            limit = 2**64 - 2**64 % n
            x = next(gen)
            while x >= limit:
                x = next(gen)
            j = i + x % n
            ids[i], ids[j] = ids[j], ids[i]
        assert result.selected[lvl] == tuple(ids[:k])


# --------------------------------------------------------------------------- determinism


def test_same_inputs_give_the_same_draw():
    pop, pool = make_population(200, recent_every=7), make_pool(20, {3: {"ent-0005"}})
    a = draw(seed_for(1), pop, pool, params(cross_jurisdiction=True))
    b = draw(
        seed_for(1), list(reversed(pop)), list(reversed(pool)), params(cross_jurisdiction=True)
    )
    assert a == b
    assert a.to_dict() == b.to_dict()


def test_records_and_objects_draw_alike():
    pop, pool = make_population(50), make_pool(8)
    a = draw(seed_for(2), pop, pool, params())
    b = draw(seed_for(2), freeze_population(pop), freeze_pool(pool), params().to_dict())
    assert a == b


def test_different_seed_gives_a_different_draw():
    pop, pool = make_population(200), make_pool(20)
    a = draw(seed_for(1), pop, pool, params())
    b = draw(seed_for(2), pop, pool, params())
    assert a.selected != b.selected
    assert a.result_digest != b.result_digest
    assert a.population_digest == b.population_digest and a.pool_digest == b.pool_digest


def test_digests_are_sha256_of_canonical_sorted_records():
    pop, pool = make_population(30), make_pool(5, {1: {"ent-0002", "ent-0001"}})
    seed = seed_for(3)
    result = draw(seed, pop, pool, params())
    frozen = freeze_population(reversed(pop))
    assert [r["id"] for r in frozen] == sorted(r["id"] for r in frozen)
    canon = json.dumps(frozen, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert result.population_digest == hashlib.sha256(canon.encode()).hexdigest()
    assert result.pool_digest == records_digest(freeze_pool(pool))
    assert freeze_pool(pool)[1]["conflicts"] == ["ent-0001", "ent-0002"]
    assert result.seed_commitment == hashlib.sha256(seed).hexdigest() == seed_commitment(seed)


def test_population_records_from_formatted_rows_are_the_frozen_population():
    pop = make_population(30)
    rows = [
        (
            e.id,
            e.risk_level,
            e.jurisdiction,
            e.last_inspected_at and e.last_inspected_at.isoformat(),
        )
        for e in reversed(pop)
    ]
    records = population_records(rows)
    assert records == freeze_population(pop)
    assert records_digest(records) == draw(seed_for(1), pop, [], params()).population_digest
    with pytest.raises(DrawInputError, match="duplicate id"):
        population_records(rows + rows[:1])
    with pytest.raises(DrawInputError, match="unknown risk level"):
        population_records([("ent-x", "extreme", JURS[0], None)])


@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    seed=st.binary(min_size=16, max_size=48),
    n_ent=st.integers(0, 80),
    n_insp=st.integers(0, 15),
    cross=st.booleans(),
    team_size=st.integers(2, 4),
)
def test_draw_is_a_pure_function(seed, n_ent, n_insp, cross, team_size):
    pop, pool = make_population(n_ent, recent_every=5), make_pool(n_insp, {0: {"ent-0000"}})
    p = params(cross_jurisdiction=cross, team_size=team_size, exclude_inspected_within_days=30)
    assert draw(seed, pop, pool, p) == draw(seed, pop, pool, p)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "rates",
    [
        {"high": "0.5", "medium": "0.2", "low": "0"},
        {"high": "0.5", "medium": "-0.1", "low": "0.1"},
        {"high": "1.5", "medium": "0.2", "low": "0.1"},
        {"high": "0.5", "medium": "0.2"},
        {"high": "0.5", "medium": "0.2", "low": "0.1", "extreme": "0.1"},
        {"high": "0.5", "medium": "0.2", "low": "abc"},
        {"high": "0.5", "medium": "0.2", "low": "NaN"},
        {"high": True, "medium": "0.2", "low": "0.1"},
    ],
)
def test_every_risk_level_needs_a_rate_above_zero(rates):
    with pytest.raises(DrawInputError):
        DrawParams(rates=rates, as_of=AS_OF)


@pytest.mark.parametrize(
    "kw",
    [
        {"team_size": 1},
        {"team_size": 0},
        {"team_size": True},
        {"exclude_inspected_within_days": -1},
        {"cross_jurisdiction": "yes"},
        {"as_of": "not a date"},
    ],
)
def test_bad_parameters_are_refused(kw):
    with pytest.raises(DrawInputError):
        params(**kw)


def test_rates_are_canonical_decimals():
    p = DrawParams(rates={"high": 0.5, "medium": "0.20", "low": 1}, as_of="2026-06-01")
    assert p.to_dict()["rates"] == {"high": "0.5", "medium": "0.2", "low": "1"}
    assert p.as_of == AS_OF


def test_bad_inputs_are_refused():
    pool = make_pool(4)
    with pytest.raises(DrawInputError):
        draw(b"short", make_population(4), pool, params())
    with pytest.raises(DrawInputError):
        draw(seed_for(0), make_population(4) + make_population(1), pool, params())
    with pytest.raises(DrawInputError):
        draw(seed_for(0), [Enterprise("x", "extreme", "huayanglu")], pool, params())
    with pytest.raises(DrawInputError):
        draw(seed_for(0), make_population(4), pool, params(), algorithm_version="fs-draw-0")


# --------------------------------------------------------------------------- sample sizes


def test_sample_size_is_ceil_of_rate_times_eligible():
    pop = make_population(60, recent_every=9)
    result = draw(seed_for(5), pop, make_pool(30), params(exclude_inspected_within_days=30))
    for lvl, rate in (("high", 0.5), ("medium", 0.3), ("low", 0.1)):
        n = result.eligible[lvl]
        assert n == sum(1 for e in pop if e.risk_level == lvl and e.last_inspected_at is None)
        assert len(result.selected[lvl]) == math.ceil(round(rate * n, 9))


def test_no_level_is_exempt_even_at_a_tiny_rate():
    pop = make_population(12)
    p = params(rates={"high": "0.0001", "medium": "0.0001", "low": "0.0001"})
    result = draw(seed_for(6), pop, make_pool(30), p)
    assert all(len(result.selected[lvl]) == 1 for lvl in ("high", "medium", "low"))


# --------------------------------------------------------------------------- fairness


def test_each_eligible_enterprise_is_drawn_at_its_level_rate():
    """Over S seeds each enterprise's count is Binomial(S, k/N) with k/N within 1/N of the rate.

    The tolerance is 5 standard deviations: with 60 enterprises tested the chance that a correct
    implementation fails is below 60 * 5.7e-7 = 3.4e-5 (two-sided normal tail); the seeds are
    fixed, so the test is reproducible anyway.
    """
    pop = make_population(66, recent_every=11)
    pool = make_pool(40)
    p = params(exclude_inspected_within_days=30)
    runs = 1500
    counts: Counter[str] = Counter()
    first = None
    for s in range(runs):
        result = draw(seed_for(1000 + s), pop, pool, p)
        first = first or result
        for ids in result.selected.values():
            counts.update(ids)
    assert first is not None
    rates = {"high": 0.5, "medium": 0.3, "low": 0.1}
    for lvl in ("high", "medium", "low"):
        n = first.eligible[lvl]
        k = len(first.selected[lvl])
        prob = k / n
        assert 0 <= prob - rates[lvl] < 1 / n
        members = [e for e in pop if e.risk_level == lvl and e.last_inspected_at is None]
        assert len(members) == n
        sd = math.sqrt(runs * prob * (1 - prob))
        for e in members:
            assert abs(counts[e.id] - runs * prob) <= 5 * sd, (lvl, e.id, counts[e.id])
    # Recently inspected enterprises are never drawn.
    for e in pop:
        if e.last_inspected_at is not None:
            assert counts[e.id] == 0


def test_team_ties_are_broken_at_random():
    """One target, five equally idle inspectors: each serves in 2/5 of the draws."""
    pop = [Enterprise("only", "high", "huayanglu")]
    pool = make_pool(5)
    runs = 2000
    counts: Counter[str] = Counter()
    for s in range(runs):
        (team,) = draw(seed_for(s), pop, pool, params()).teams
        counts.update(team.inspector_ids)
    prob = 2 / 5
    sd = math.sqrt(runs * prob * (1 - prob))
    assert set(counts) == {i.id for i in pool}
    for insp in pool:
        assert abs(counts[insp.id] - runs * prob) <= 5 * sd


@settings(max_examples=40, deadline=None, database=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    n_ent=st.integers(1, 150),
    n_insp=st.integers(2, 30),
    team_size=st.integers(2, 3),
)
def test_workload_is_balanced_without_constraints(seed, n_ent, n_insp, team_size):
    pool = make_pool(max(n_insp, team_size))
    result = draw(seed, make_population(n_ent), pool, params(team_size=team_size))
    loads = Counter({i.id: 0 for i in pool})
    for team in result.teams:
        loads.update(team.inspector_ids)
    assert max(loads.values()) - min(loads.values()) <= 1


def test_workload_is_balanced_with_cross_jurisdiction_and_conflicts():
    """Constraints can force a greedy pick past the least loaded: allow a spread of 2."""
    pop = make_population(3000)
    conflicts = {i: {f"ent-{(i * 37 + j) % 3000:04d}" for j in range(3)} for i in range(0, 100, 4)}
    pool = make_pool(100, conflicts)
    for s in range(5):
        result = draw(seed_for(s), pop, pool, params(cross_jurisdiction=True))
        loads = Counter({i.id: 0 for i in pool})
        for team in result.teams:
            loads.update(team.inspector_ids)
        assert max(loads.values()) - min(loads.values()) <= 2
        # 700 teams of 2 over 100 inspectors: 14 each, give or take one for a few.
        assert sum(1 for v in loads.values() if v != 14) <= 4


# --------------------------------------------------------------------------- exclusions


def reasons(result) -> dict[str, set]:
    """Group a result's exclusions by reason."""
    out: dict[str, set] = {}
    for x in result.exclusions:
        out.setdefault(x.reason, set()).add((x.kind, x.id, x.enterprise_id))
    return out


def test_recently_inspected_window_boundary():
    pop = [
        Enterprise("a", "high", "huayanglu", AS_OF - timedelta(days=30)),  # exactly N days ago
        Enterprise("b", "high", "huayanglu", AS_OF - timedelta(days=29)),  # within N days
        Enterprise("c", "high", "huayanglu", None),
    ]
    result = draw(seed_for(7), pop, make_pool(6), params(exclude_inspected_within_days=30))
    assert reasons(result)["recently_inspected"] == {("enterprise", "b", None)}
    assert result.eligible["high"] == 2
    unfiltered = draw(seed_for(7), pop, make_pool(6), params())
    assert "recently_inspected" not in reasons(unfiltered)


def test_inspectors_with_expired_or_missing_certificates_are_excluded():
    pool = make_pool(6)
    pool[0] = Inspector("expired", "jiangsulu", "fire", AS_OF - timedelta(days=1))
    pool[1] = Inspector("missing", "jiangsulu", "fire", None)
    pool[2] = Inspector("last-day", "jiangsulu", "fire", AS_OF)
    result = draw(seed_for(8), make_population(60), pool, params())
    r = reasons(result)
    assert r["certificate_expired"] == {("inspector", "expired", None)}
    assert r["certificate_missing"] == {("inspector", "missing", None)}
    on_teams = {i for t in result.teams for i in t.inspector_ids}
    assert "expired" not in on_teams and "missing" not in on_teams
    assert "last-day" in on_teams


def test_conflicts_are_recorded_and_respected():
    pop = [Enterprise("target", "high", "huayanglu")]
    pool = make_pool(4, {0: {"target"}, 1: {"target"}, 2: {"elsewhere"}})
    result = draw(seed_for(9), pop, pool, params(rates={"high": 1, "medium": 1, "low": 1}))
    (team,) = result.teams
    assert set(team.inspector_ids) == {"insp-002", "insp-003"}
    assert reasons(result)["conflict"] == {
        ("inspector", "insp-000", "target"),
        ("inspector", "insp-001", "target"),
    }


def test_unstaffable_target_is_excluded_not_fatal():
    pop = [Enterprise("a", "high", "huayanglu"), Enterprise("b", "high", "jiangsulu")]
    pool = [
        Inspector("x", "huayanglu", "fire", AS_OF + timedelta(days=9)),
        Inspector("y", "huayanglu", "fire", AS_OF + timedelta(days=9)),
    ]
    p = params(rates={"high": 1, "medium": 1, "low": 1}, cross_jurisdiction=True)
    result = draw(seed_for(10), pop, pool, p)
    assert [t.enterprise_id for t in result.teams] == ["b"]
    r = reasons(result)
    assert r["no_eligible_team"] == {("enterprise", "a", None)}
    assert r["same_jurisdiction"] == {
        ("jurisdiction", "huayanglu", None),
        ("jurisdiction", "jiangsulu", None),
    }


@settings(max_examples=60, deadline=None, database=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    n_ent=st.integers(0, 120),
    n_insp=st.integers(0, 25),
    cross=st.booleans(),
    team_size=st.integers(2, 4),
    conflict_density=st.integers(0, 10),
    expired_every=st.integers(0, 5),
)
def test_no_ineligible_inspector_is_ever_on_a_team(
    seed, n_ent, n_insp, cross, team_size, conflict_density, expired_every
):
    pop = make_population(n_ent, recent_every=7)
    pool = []
    for i, insp in enumerate(make_pool(n_insp)):
        conflicts = frozenset(
            f"ent-{(i * 13 + j) % max(n_ent, 1):04d}" for j in range(conflict_density)
        )
        expires = insp.certificate_expires
        if expired_every and i % expired_every == 0:
            expires = AS_OF - timedelta(days=1)
        pool.append(Inspector(insp.id, insp.jurisdiction, insp.department, expires, conflicts))
    p = params(cross_jurisdiction=cross, team_size=team_size, exclude_inspected_within_days=30)
    result = draw(seed, pop, pool, p)
    by_id = {i.id: i for i in pool}
    ents = {e.id: e for e in pop}
    drawn = [eid for ids in result.selected.values() for eid in ids]
    assert len(drawn) == len(set(drawn))
    staffed = {t.enterprise_id for t in result.teams}
    unstaffed = {x.id for x in result.exclusions if x.reason == "no_eligible_team"}
    assert staffed | unstaffed == set(drawn) and not staffed & unstaffed
    for team in result.teams:
        target = ents[team.enterprise_id]
        assert len(team.inspector_ids) == team_size == len(set(team.inspector_ids))
        for insp_id in team.inspector_ids:
            insp = by_id[insp_id]
            assert insp.certificate_expires >= AS_OF
            assert target.id not in insp.conflicts
            if cross:
                assert insp.jurisdiction != target.jurisdiction
    for eid in drawn:
        assert ents[eid].last_inspected_at is None


# --------------------------------------------------------------------------- verify


def build_record():
    """Return a stored draw record over a small district."""
    pop = make_population(80, recent_every=6)
    pool = make_pool(12, {2: {"ent-0001", "ent-0003"}})
    pool[5] = Inspector("insp-005", JURS[0], "fire", AS_OF - timedelta(days=3))
    p = params(cross_jurisdiction=True, exclude_inspected_within_days=30)
    seed = seed_for(77)
    record = make_record(seed, pop, pool, p, draw(seed, pop, pool, p))
    # The record is plain JSON: it survives a round trip.
    return json.loads(json.dumps(record))


def test_verify_accepts_an_untouched_record():
    assert verify(build_record()) == []


def test_verify_detects_a_changed_team():
    record = build_record()
    team = record["result"]["teams"][0]
    team["inspector_ids"][0] = "insp-011" if team["inspector_ids"][0] != "insp-011" else "insp-010"
    diffs = verify(record)
    assert any(d.startswith(f"team for {team['enterprise_id']}") for d in diffs)
    assert any(d.startswith("result_digest") for d in diffs)


def test_verify_detects_a_swapped_target():
    record = build_record()
    record["result"]["targets"]["low"][0] = "ent-0005"
    assert any(d.startswith("targets.low") for d in verify(record))


def test_verify_detects_a_changed_seed():
    record = build_record()
    record["seed"] = seed_for(78).hex()
    diffs = verify(record)
    assert any(d.startswith("seed_commitment") for d in diffs)


def test_verify_detects_a_changed_population_record():
    record = build_record()
    record["population"][3]["risk_level"] = "high"
    diffs = verify(record)
    assert any(d.startswith("population_digest") for d in diffs)


def test_verify_detects_a_removed_exclusion():
    record = build_record()
    removed = record["result"]["exclusions"].pop(0)
    diffs = verify(record)
    assert any("missing from the record" in d and removed["id"] in d for d in diffs)


def test_verify_checks_published_commitment_and_digests():
    record = build_record()
    record["seed_commitment"] = record["result"]["seed_commitment"]
    record["pool_digest"] = "0" * 64
    assert verify(record) == [
        f"pool_digest: published {'0' * 64}, recomputed {record['result']['pool_digest']}"
    ]


def test_verify_reports_unreadable_records():
    record = build_record()
    record["params"]["rates"]["low"] = "0"
    (diff,) = verify(record)
    assert diff.startswith("record cannot be recomputed")
    assert verify({}) and verify({**build_record(), "seed": "zz"})
