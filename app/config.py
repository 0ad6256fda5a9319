"""Settings from FIELDSAFE_* environment variables, with embedded defaults under instance/."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

# Values read from FIELDSAFE_<NAME>; the type of the default decides how the string is parsed.
DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "DATABASE_URL": "",  # default: sqlite:///<instance>/fieldsafe.db
    "SECRET_KEY": "",  # default: generated once into <instance>/secret_key
    "PORT": 5000,
    "HOST": "127.0.0.1",
    "CORS_ORIGINS": "",  # comma-separated PWA origins
    "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
    "ACCESS_TOKEN_TTL": 3600,  # seconds
    "REFRESH_TOKEN_TTL": 14 * 24 * 3600,  # a week offline, with margin
    "LOGIN_RATE_LIMIT": "10 per minute",  # per account and per address
    "PUBLIC_REPORT_RATE_LIMIT": "5 per hour",
    "RATELIMIT_STORAGE_URI": "memory://",  # redis://127.0.0.1:6379 in production
    "DISTRICT_CODE": "changning",
    # The district's bounding box (lat/lon), used to validate registry coordinates.
    "DISTRICT_BOUNDS": "31.17,121.32,31.25,121.46",
    "CHECKIN_MAX_DISTANCE_M": 500,
    "MEDIA_BACKEND": "local",
    "MEDIA_ROOT": "",  # default: <instance>/media
    "MEDIA_SPOOL": "",  # default: <instance>/spool
    "MEDIA_MAX_BYTES": 30 * 1024 * 1024,
    "MEDIA_MAX_PIXELS": 60_000_000,
    "MEDIA_URL_TTL": 300,  # seconds a signed photo URL stays valid
    "MEDIA_UPLOAD_TTL": 24 * 3600,  # an idle tus upload expires after this many seconds
    "S3_BUCKET": "",
    "S3_ENDPOINT_URL": "",
    "S3_PREFIX": "",
    "S3_REGION": "us-east-1",
    "S3_ACCESS_KEY": "",  # empty: boto3's usual credential chain (env, profile, IAM role)
    "S3_SECRET_KEY": "",
    "SYNC_RETENTION_DAYS": 90,
    "WEBHOOK_URLS": "",
    "WEBHOOK_SECRET": "",
}


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    return raw


def load_config(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the app config: defaults, then FIELDSAFE_* variables, then explicit overrides."""
    cfg = {
        name: _parse(os.environ[f"FIELDSAFE_{name}"], default)
        if f"FIELDSAFE_{name}" in os.environ
        else default
        for name, default in DEFAULTS.items()
    }
    cfg.update(overrides or {})
    instance = Path(instance_path)
    if not cfg["DATABASE_URL"]:
        instance.mkdir(parents=True, exist_ok=True)
        cfg["DATABASE_URL"] = f"sqlite:///{instance / 'fieldsafe.db'}"
    if not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = _instance_secret(instance)
    cfg["MEDIA_ROOT"] = cfg["MEDIA_ROOT"] or str(instance / "media")
    cfg["MEDIA_SPOOL"] = cfg["MEDIA_SPOOL"] or str(instance / "spool")
    return cfg


def _instance_secret(instance: Path) -> str:
    """Read the secret key generated into the instance folder, creating it on first use."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_hex(32))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return path.read_text().strip()
