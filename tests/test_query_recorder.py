"""The query recorder fixture counts the statements a block runs, and only inside the block."""

from __future__ import annotations

from typing import Any


def test_the_recorder_counts_statements_run_inside_the_block(client: Any, queries: Any) -> None:
    client.get("/api/v1/checklists")  # outside: not counted
    with queries:
        client.get("/healthz")
    assert queries.count == 0
    with queries:
        client.get("/readyz")
    assert queries.count >= 2  # SELECT 1 and the migration check
    assert any("SELECT 1" in s for s in queries.statements)
    seen = queries.count
    client.get("/readyz")  # after the block: not counted
    assert queries.count == seen
