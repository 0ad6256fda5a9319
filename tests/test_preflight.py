"""Production refuses demo-only defaults, naming each setting; `fieldsafe check` says the same."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app import create_app
from app.preflight import UnsafeProductionConfig
from tests.sync.live import ROOT

PRODUCTION = {
    "ENV": "production",
    "DATABASE_URL": "postgresql+psycopg://fieldsafe@db.internal/fieldsafe",
    "SECRET_KEY": "a-long-random-secret-given-by-the-operator",
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
    "MEDIA_BACKEND": "s3",
    "S3_BUCKET": "fieldsafe-photos",
    "S3_ENDPOINT_URL": "http://minio.internal:9000",
}
DEMO_ONLY = ["DATABASE_URL", "SECRET_KEY", "RATELIMIT_STORAGE_URI", "MEDIA_BACKEND"]


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSAFE_")}
    env.update({f"FIELDSAFE_{k}": v for k, v in settings.items()})
    return env


def test_production_with_nothing_set_refuses_naming_every_setting(tmp_path):
    with pytest.raises(UnsafeProductionConfig) as refused:
        create_app({"ENV": "production", "MEDIA_ROOT": str(tmp_path)})
    assert [f.setting for f in refused.value.findings] == DEMO_ONLY
    for name in DEMO_ONLY:
        assert f"FIELDSAFE_{name}:" in str(refused.value)
    assert "FIELDSAFE_ALLOW_LOCAL_MEDIA=1" in str(refused.value)


@pytest.mark.parametrize("setting", DEMO_ONLY)
def test_each_demo_default_alone_is_refused(setting, tmp_path):
    config = dict(PRODUCTION)
    config[setting] = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "SECRET_KEY": "",
        "RATELIMIT_STORAGE_URI": "memory://",
        "MEDIA_BACKEND": "local",
    }[setting]
    with pytest.raises(UnsafeProductionConfig) as refused:
        create_app(config)
    assert [f.setting for f in refused.value.findings] == [setting]


def test_s3_without_a_bucket_is_refused():
    with pytest.raises(UnsafeProductionConfig, match="FIELDSAFE_S3_BUCKET"):
        create_app({**PRODUCTION, "S3_BUCKET": ""})


def test_explicit_opt_ins_let_a_small_installation_start(tmp_path):
    app = create_app(
        {
            "ENV": "production",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'small.db'}",
            "SECRET_KEY": "given",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "ALLOW_SQLITE": True,
            "ALLOW_MEMORY_RATE_LIMITS": True,
            "ALLOW_LOCAL_MEDIA": True,
        }
    )
    assert app.test_client().get("/healthz").status_code == 200
    app.extensions["db"].engine.dispose()


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from app.console import main; main()", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_fieldsafe_check_lists_the_same_findings_and_exits_1():
    result = _check(_env(ENV="production"))
    assert result.returncode == 1, result.stderr
    for name in DEMO_ONLY:
        assert f"FIELDSAFE_{name}:" in result.stdout
    assert "Traceback" not in result.stderr


def test_fieldsafe_check_passes_a_production_configuration():
    result = _check(_env(**PRODUCTION))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ready for production" in result.stdout
