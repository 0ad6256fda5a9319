"""PostgreSQL plans every statement for its own parameters, however often it runs.

psycopg prepares a statement executed five times on one connection; PostgreSQL would then pick a
generic plan once it looks no dearer than the custom ones, which for the pull's scope queries is
a plan that grows with the data. The engine's connections force custom plans (app.db.make_engine).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, select, text

from app.inspections.models import Inspection
from tests.conftest import requires_postgres

pytestmark = requires_postgres


def test_the_engines_connections_plan_for_the_parameters(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"


def test_a_statement_prepared_by_repetition_never_gets_a_generic_plan(engine: Engine) -> None:
    stmt = select(Inspection.id).where(Inspection.enterprise_id == uuid.uuid4())
    with engine.connect() as conn:
        for _ in range(20):
            conn.execute(stmt.where(Inspection.enterprise_id == uuid.uuid4())).all()
        plans = conn.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%FROM inspections%'"
            )
        ).all()
    assert plans, "psycopg prepared the repeated statement"
    assert all(generic == 0 for generic, _custom in plans)
    assert sum(custom for _generic, custom in plans) >= 10


def test_options_the_url_gives_are_kept(database_url: str) -> None:
    from app.db import make_engine

    sep = "&" if "?" in database_url else "?"
    eng = make_engine(f"{database_url}{sep}options=-csearch_path%3Dpg_catalog")
    try:
        with eng.connect() as conn:
            assert conn.execute(text("SHOW search_path")).scalar() == "pg_catalog"
            assert conn.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
    finally:
        eng.dispose()
