"""Settings from FIELDSAFE_* environment variables, with embedded defaults under instance/."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

# Values read from FIELDSAFE_<NAME>; the type of the default decides how the string is parsed.
DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    # Demo-only defaults that FIELDSAFE_ENV=production refuses unless opted in (app/preflight.py).
    "ALLOW_SQLITE": False,
    "ALLOW_GENERATED_SECRET": False,
    "ALLOW_MEMORY_RATE_LIMITS": False,
    "ALLOW_LOCAL_MEDIA": False,
    "DATABASE_URL": "",  # default: sqlite:///<instance>/fieldsafe.db
    "SECRET_KEY": "",  # default: generated once into <instance>/secret_key
    "PORT": 5000,
    "HOST": "127.0.0.1",
    "CORS_ORIGINS": "",  # comma-separated PWA origins
    "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
    "ACCESS_TOKEN_TTL": 3600,  # seconds
    "REFRESH_TOKEN_TTL": 14 * 24 * 3600,  # a week offline, with margin
    # The staff console's session ends after this many minutes without a request (app/staff).
    "CONSOLE_IDLE_MINUTES": 30,
    # Login and refresh limits (app/auth/limits.py; the numbers and why: docs/auth.md).
    # Failed logins per account: a guesser waits a minute, then an hour, then a day.
    "LOGIN_ACCOUNT_FAILURE_LIMIT": "5 per minute; 20 per hour; 50 per day",
    # Failed logins per address: an address spraying one password over many accounts.
    "LOGIN_ADDRESS_FAILURE_LIMIT": "30 per minute; 300 per day",
    # Every login per address: a street office behind one NAT address logs in at 8:30.
    "LOGIN_ADDRESS_LIMIT": "300 per minute",
    # Refreshes per token family (one device login), and refused refreshes per address.
    "REFRESH_FAMILY_LIMIT": "10 per minute",
    "REFRESH_ADDRESS_FAILURE_LIMIT": "30 per minute",
    "PUBLIC_REPORT_RATE_LIMIT": "5 per hour",
    # Where every worker keeps the counters: memory:// is per process (development only).
    "RATELIMIT_STORAGE_URI": "memory://",  # redis://127.0.0.1:6379 in production
    "RATELIMIT_KEY_PREFIX": "fieldsafe",  # keeps apart deployments sharing one Redis
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host are trusted.
    "TRUSTED_PROXIES": 0,
    # The largest single request header the API accepts (larger: 431).
    "MAX_HEADER_BYTES": 8 * 1024,
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
    # Documents (执法文书): the address their QR codes open (…/public/documents/<code>), and the
    # bodies the remedies notice names for 行政复议 and 行政诉讼 (docs/documents.md).
    "DOCUMENT_PUBLIC_URL": "http://127.0.0.1:5000",
    "DOCUMENT_REVIEW_BODY": "上海市长宁区人民政府",
    "DOCUMENT_COURT": "上海铁路运输法院",
    # The CJK font the PDFs embed: AR PL UMing, from Debian's fonts-arphic-uming (make fonts).
    "DOCUMENT_FONT": "/usr/share/fonts/truetype/arphic/uming.ttc",
    # 文号 prefix: 长宁隐〔2026〕0001号.
    "HAZARD_NUMBER_PREFIX": "长宁隐",
    # Default rectification deadline (days from issue) per grade.
    "HAZARD_DEADLINE_DAYS_GENERAL": 7,
    "HAZARD_DEADLINE_DAYS_MAJOR": 60,
    # "Due soon" notification this many days before the deadline.
    "HAZARD_DUE_SOON_DAYS": 3,
    # An overdue ticket rises one escalation step per interval (函告 → 通报 → 约谈 → 曝光).
    "HAZARD_ESCALATION_INTERVAL_DAYS": 7,
    # Which department's supervisors sign off (销号) a ticket, by industry; see docs/hazards.md.
    "HAZARD_RESPONSIBLE_DEPARTMENTS": (
        "commercial_complex:fire,medical_elderly_care:fire,hazardous_chemicals:emergency,"
        "gas_catering:construction,factory_warehouse:emergency,confined_space:emergency,"
        "high_rise:fire,ebike_charging:fire,construction_decoration:construction,"
        "hot_work:emergency"
    ),
    "HAZARD_DEFAULT_DEPARTMENT": "emergency",
    # Review evidence flags.
    "REVIEW_PHOTO_TIME_TOLERANCE_MINUTES": 120,
    "REVIEW_PHOTO_MAX_DISTANCE_M": 500,
    # Field times: a device time further ahead of the server's clock than this is refused.
    "DEVICE_CLOCK_SKEW_MINUTES": 5,
    # Public reports: the largest inline photo accepted (decoded bytes).
    "PUBLIC_REPORT_MAX_PHOTO_BYTES": 2 * 1024 * 1024,
    # Webhook delivery.
    "WEBHOOK_MAX_ATTEMPTS": 8,
    "WEBHOOK_BACKOFF_SECONDS": 30.0,
    "WEBHOOK_BACKOFF_MAX_SECONDS": 6 * 3600,
    "WEBHOOK_TIMEOUT_SECONDS": 10.0,
    # A claimed delivery not finished within the lease (worker killed) is taken again after it.
    "WEBHOOK_LEASE_SECONDS": 60.0,
    # The worker loop.
    "WORKER_POLL_SECONDS": 2.0,
    "WORKER_SWEEP_SECONDS": 3600.0,
    # A draw of a larger population runs in the worker, with progress (docs/sampling.md).
    "DRAW_INLINE_MAX_POPULATION": 10_000,
}


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_config(
    instance_path: str, overrides: dict[str, Any] | None = None, write_instance: bool = True
) -> dict[str, Any]:
    """Build the app config: defaults, then FIELDSAFE_* variables, then explicit overrides.

    Missing settings default to files under the instance folder, created there unless
    `write_instance` is false; production generates no secret unless ALLOW_GENERATED_SECRET.
    """
    cfg = {
        name: _parse(os.environ[f"FIELDSAFE_{name}"], default)
        if f"FIELDSAFE_{name}" in os.environ
        else default
        for name, default in DEFAULTS.items()
    }
    cfg.update(overrides or {})
    instance = Path(instance_path)
    production = cfg["ENV"] == "production"
    if not cfg["DATABASE_URL"]:
        if write_instance and (not production or cfg["ALLOW_SQLITE"]):
            instance.mkdir(parents=True, exist_ok=True)
        cfg["DATABASE_URL"] = f"sqlite:///{instance / 'fieldsafe.db'}"
    #: True when no FIELDSAFE_SECRET_KEY was given: the key is (or would be) the instance one.
    cfg["SECRET_KEY_GENERATED"] = not cfg["SECRET_KEY"]
    if (
        not cfg["SECRET_KEY"]
        and write_instance
        and (not production or cfg["ALLOW_GENERATED_SECRET"])
    ):
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
