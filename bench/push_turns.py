"""A push's CPU in two checkouts taking turns: the before and after of a change, side by side.

    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/push_turns.py BEFORE [AFTER] [--batch 1] [--rounds 10] [--turn 30]

``BEFORE`` and ``AFTER`` are checkouts of this repository (``AFTER`` defaults to this one; make
the other with ``git worktree add /tmp/before <commit>`` and ``make translations`` there, or
``pybabel compile -d /tmp/before/app/translations``). Without them this checkout is compared
with itself, which shows the method's own spread (``make bench``): the ratio is then near 1.

Each gets a process of its own, with its own code, on a scratch PostgreSQL database of its own
seeded alike (``tests/sync/live.seed``), driving its app through Flask's test client as
``bench/request_costs.py`` does. The two then take turns: ``--turn`` pushes of ``--batch``
findings by one, then by the other, for ``--rounds`` rounds, who goes first alternating. So
both see the same machine, minute by minute, which on a shared machine moves the figures of
separate runs by 2-3x. Prints each checkout's CPU per push (``time.process_time`` of the push
request; min, p10, median) and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def child(batch: int, total: int) -> None:
    """One checkout's side (this file run with that checkout first on ``sys.path``): seed,
    warm up, answer ``ready``; then, for each ``go K`` line, push K times and answer the CPU
    seconds of each push as a JSON list."""
    from bench.request_costs import start_fieldwork
    from tests.sync.live import bench_database_url, drop_database, scratch_database, seed

    answer = sys.stdout
    sys.stdout = sys.stderr  # the app's own output must not mix with the answers
    tmp = Path(tempfile.mkdtemp(prefix="push-turns-"))
    url = scratch_database(bench_database_url(), tmp, "turns")
    try:
        world = seed(url, inspections=total * batch // 10 + 4)
        fieldwork = start_fieldwork(world, tmp)
        device, findings = fieldwork.device, lambda: fieldwork.findings(batch)
        for _ in range(5):  # warm: statement caches, prepared statements, checklists
            device.push(findings())
        answer.write("ready\n")
        answer.flush()
        for line in sys.stdin:
            cpu = []
            for _ in range(int(line.split()[1])):
                mutations = findings()
                t0 = time.process_time()
                device.push(mutations)
                cpu.append(time.process_time() - t0)
            answer.write(json.dumps(cpu) + "\n")
            answer.flush()
    finally:
        drop_database(url)


def main() -> int:
    """Start both sides, run the turns, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path, nargs="?", default=HERE)
    ap.add_argument("after", type=Path, nargs="?", default=HERE)
    ap.add_argument("--batch", type=int, default=1, help="findings per push")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--turn", type=int, default=30, help="pushes per turn")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--total", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.batch, args.total)
        return 0
    trees = [args.before.resolve(), args.after.resolve()]
    total = args.rounds * args.turn + 10
    sides: dict[int, subprocess.Popen[str]] = {}
    for n, tree in enumerate(trees):
        env = {**os.environ, "PYTHONPATH": str(tree)}
        command = [sys.executable, str(Path(__file__).resolve()), str(tree), "--child"]
        command += ["--batch", str(args.batch), "--total", str(total)]
        sides[n] = subprocess.Popen(
            command, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
    try:
        for n, side in sides.items():
            assert side.stdout is not None
            if side.stdout.readline().strip() != "ready":
                raise SystemExit(f"{trees[n]} did not start (its errors are above)")
        cpu: list[list[float]] = [[], []]
        for r in range(args.rounds):
            for n in (0, 1) if r % 2 == 0 else (1, 0):
                side = sides[n]
                assert side.stdin is not None and side.stdout is not None
                side.stdin.write(f"go {args.turn}\n")
                side.stdin.flush()
                cpu[n].extend(json.loads(side.stdout.readline()))
    finally:
        for side in sides.values():
            if side.stdin is not None:
                side.stdin.close()
            side.wait(timeout=60)
    print(f"push of {args.batch}: {args.rounds} rounds of {args.turn} pushes each, CPU ms per push")
    print(f"{'checkout':<40}{'min':>8}{'p10':>8}{'median':>8}")
    for label, tree, times in zip(("before", "after"), trees, cpu, strict=True):
        ms = sorted(c * 1000 for c in times)
        median = statistics.median(ms)
        name = f"{label}: {tree}"
        print(f"{name:<40}{ms[0]:>8.2f}{ms[len(ms) // 10]:>8.2f}{median:>8.2f}")
    ratio = statistics.median(cpu[1]) / statistics.median(cpu[0])
    print(f"median after / before: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
