"""Bench the 双随机 draw: 100,000 enterprises, 2,000 inspectors, conflicts, 异地交叉.

Prints the draw time, the time of ``random.sample`` of the same number of targets from the same
population in the same run (the baseline), their ratio, and the bar: the draw under 1 s.

    .venv/bin/python bench/sampling_draw.py [--enterprises N] [--inspectors M] [--repeat R]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.demo.org import STREETS  # noqa: E402
from app.planning.draw import DrawParams, Enterprise, Inspector, draw  # noqa: E402

JURISDICTIONS = [code for code, *_ in STREETS]
DEPARTMENTS = ["emergency", "fire", "construction", "market", "police"]
BAR_SECONDS = 1.0


def build(n_ent: int, n_insp: int, as_of: date) -> tuple[list[Enterprise], list[Inspector]]:
    """Build a synthetic population and pool (fixed generator seed, so runs compare)."""
    gen = random.Random(20261129)  # only for building fixtures, never for the draw itself
    levels = ["high"] * 10 + ["medium"] * 30 + ["low"] * 60
    ents = []
    for i in range(n_ent):
        last = as_of - timedelta(days=gen.randrange(2000)) if gen.random() < 0.7 else None
        ents.append(
            Enterprise(
                id=f"e{i:07d}",
                risk_level=gen.choice(levels),
                jurisdiction=gen.choice(JURISDICTIONS),
                last_inspected_at=last,
            )
        )
    inspectors = []
    for i in range(n_insp):
        # ~2% expired certificates; ~20% of inspectors declare 1-5 conflicts.
        expires = as_of + timedelta(days=gen.randrange(-30, 1500))
        conflicts = (
            frozenset(f"e{gen.randrange(n_ent):07d}" for _ in range(gen.randint(1, 5)))
            if gen.random() < 0.2
            else frozenset()
        )
        inspectors.append(
            Inspector(
                id=f"i{i:05d}",
                jurisdiction=gen.choice(JURISDICTIONS),
                department=gen.choice(DEPARTMENTS),
                certificate_expires=expires,
                conflicts=conflicts,
            )
        )
    return ents, inspectors


def main() -> int:
    """Run the bench and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--enterprises", type=int, default=100_000)
    ap.add_argument("--inspectors", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    as_of = date(2026, 11, 29)
    ents, inspectors = build(args.enterprises, args.inspectors, as_of)
    params = DrawParams(
        rates={"high": "0.5", "medium": "0.2", "low": "0.05"},
        as_of=as_of,
        team_size=2,
        cross_jurisdiction=True,
        exclude_inspected_within_days=180,
    )

    draw_times = []
    result = None
    for r in range(args.repeat):
        seed = bytes([r]) * 32
        t0 = time.perf_counter()
        result = draw(seed, ents, inspectors, params)
        draw_times.append(time.perf_counter() - t0)
    assert result is not None
    k = sum(len(v) for v in result.selected.values())

    base_gen = random.Random(1)
    sample_times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        base_gen.sample(ents, k)
        sample_times.append(time.perf_counter() - t0)

    best_draw, best_sample = min(draw_times), min(sample_times)
    conflicts = sum(len(i.conflicts) for i in inspectors)
    reasons: dict[str, int] = {}
    for x in result.exclusions:
        reasons[x.reason] = reasons.get(x.reason, 0) + 1
    loads: dict[str, int] = {}
    for team in result.teams:
        for insp in team.inspector_ids:
            loads[insp] = loads.get(insp, 0) + 1
    print(
        f"population      {len(ents):>9,} enterprises, {len(inspectors):,} inspectors, "
        f"{conflicts:,} declared conflicts, {len(JURISDICTIONS)} jurisdictions, 异地交叉 on"
    )
    per_level = ", ".join(f"{lvl} {len(v)}" for lvl, v in result.selected.items())
    print(
        f"drawn           {k:>9,} targets ({per_level}), "
        f"{len(result.teams):,} teams of {params.team_size}"
    )
    print(f"exclusions      {', '.join(f'{r} {n}' for r, n in sorted(reasons.items()))}")
    print(f"workload        min {min(loads.values())}, max {max(loads.values())} per inspector")
    print(
        f"draw            {best_draw * 1000:9.1f} ms  (best of {args.repeat}: "
        f"{', '.join(f'{t * 1000:.1f}' for t in draw_times)})"
    )
    print(f"random.sample   {best_sample * 1000:9.1f} ms  (same k={k:,} from the same population)")
    print(f"ratio           {best_draw / best_sample:9.1f} x random.sample")
    verdict = "PASS" if best_draw < BAR_SECONDS else "FAIL"
    print(f"bar             draw < {BAR_SECONDS:.0f} s: {verdict}")
    return 0 if best_draw < BAR_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
