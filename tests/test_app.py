"""App-level behaviour: readiness, CORS for the PWA, the demo district."""

from __future__ import annotations

from sqlalchemy import func, select

from app.org.models import Jurisdiction, User
from app.registry.models import Enterprise
from app.registry.uscc import check_character, valid_uscc
from tests.conftest import make_test_app


def test_readyz_reports_pending_migrations_on_a_create_all_database(client):
    # The test schema is made with create_all, so no Alembic revision is recorded: not ready.
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json["checks"]["database"] == "ok"
    assert resp.json["checks"]["migrations"] == "pending"
    assert resp.json["checks"]["storage"] == "ok"


def test_readyz_ok_on_a_migrated_database(tmp_path):
    from app import create_app
    from app.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'ready.db'}"
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "x", "MEDIA_ROOT": str(tmp_path / "m")})
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "ok"
    app.extensions["db"].engine.dispose()


def test_cors_preflight_for_configured_origin(test_db, tmp_path):
    app = make_test_app(test_db, tmp_path, CORS_ORIGINS="https://pwa.example.org")
    client = app.test_client()
    resp = client.options(
        "/api/v1/me",
        headers={
            "Origin": "https://pwa.example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert resp.headers["Access-Control-Allow-Origin"] == "https://pwa.example.org"
    got = client.get("/api/v1/me", headers={"Origin": "https://pwa.example.org"})
    assert "ETag" in got.headers["Access-Control-Expose-Headers"]
    other = client.get("/api/v1/me", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_uscc_check_character():
    # A published example of a valid code (GB 32100-2015 check character).
    assert valid_uscc("91350100M000100Y43")
    assert not valid_uscc("91350100M000100Y44")
    assert not valid_uscc("91350100M000100Y4")
    assert not valid_uscc("91350100M000100YI3")  # I is not in the alphabet
    assert check_character("91350100M000100Y4") == "3"


def test_demo_is_complete_and_idempotent(app, db_session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    counts = {
        "users": db_session.scalar(select(func.count()).select_from(User)),
        "enterprises": db_session.scalar(select(func.count()).select_from(Enterprise)),
    }
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(User)) == counts["users"]
    assert db_session.scalar(select(func.count()).select_from(Enterprise)) == counts["enterprises"]
    assert counts["enterprises"] >= 300
    names = set(db_session.execute(select(User.username)).scalars())
    assert {
        "admin",
        "planner",
        "inspector1",
        "inspector2",
        "inspector3",
        "supervisor",
        "coordinator",
        "enterprise1",
    } <= names
    streets = db_session.scalar(
        select(func.count()).select_from(Jurisdiction).where(Jurisdiction.level == "street")
    )
    assert streets == 10
    enterprises = db_session.execute(select(Enterprise)).scalars().all()
    assert all(valid_uscc(e.uscc) for e in enterprises)
    assert all(31.19 <= e.lat <= 31.235 and 121.33 <= e.lon <= 121.44 for e in enterprises)
    from app.checklists.services import LIBRARY_DIR

    industries = {p.stem for p in LIBRARY_DIR.glob("*.yaml")}
    assert {e.industry for e in enterprises} == industries
    owner = db_session.execute(select(User).where(User.username == "enterprise1")).scalar_one()
    assert owner.enterprise_id is not None


def test_demo_refused_in_production(test_db, tmp_path):
    app = make_test_app(
        test_db,
        tmp_path,
        ENV="production",
        ALLOW_SQLITE=True,
        ALLOW_MEMORY_RATE_LIMITS=True,
        ALLOW_LOCAL_MEDIA=True,
    )
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 2 and "refused" in result.output


def test_demo_login_with_password(app, client):
    app.test_cli_runner().invoke(args=["demo"])
    resp = client.post(
        "/api/v1/auth/token", json={"username": "inspector1", "password": "fieldsafe-demo"}
    )
    assert resp.status_code == 200
