"""What production refuses: defaults that only a demo may use, each with its explicit opt-in.

With ``FIELDSAFE_ENV=production`` the app will not start on SQLite, with a secret key generated
into the instance folder, with rate-limit counters in each process's memory, or with photos on
the local disk, unless the operator opts in (``FIELDSAFE_ALLOW_…=1``). ``fieldsafe check``
prints the same findings before a deployment. docs/operations.md lists the settings.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click
from flask import Flask

from app.config import load_config


@dataclass(frozen=True)
class Finding:
    """One demo-only default in use: the setting to give, why, and the opt-in that accepts it."""

    setting: str
    problem: str
    opt_in: str | None = None

    def __str__(self) -> str:
        text = f"FIELDSAFE_{self.setting}: {self.problem}"
        if self.opt_in:
            text += f" (or accept it with FIELDSAFE_{self.opt_in}=1)"
        return text


class UnsafeProductionConfig(RuntimeError):
    """Production was asked to start with defaults that only a demo may use."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        lines = "\n".join(f"  - {f}" for f in findings)
        super().__init__(
            "FIELDSAFE_ENV=production refuses to start; set these (see docs/operations.md):\n"
            + lines
        )


def findings(config: Mapping[str, Any]) -> list[Finding]:
    """List the demo-only defaults `config` still uses, as production would judge them."""
    found = []
    if str(config["DATABASE_URL"]).startswith("sqlite") and not config["ALLOW_SQLITE"]:
        found.append(
            Finding(
                "DATABASE_URL",
                "is SQLite; give the PostgreSQL database (postgresql+psycopg://user@host/db)",
                "ALLOW_SQLITE",
            )
        )
    if config["SECRET_KEY_GENERATED"] and not config["ALLOW_GENERATED_SECRET"]:
        found.append(
            Finding(
                "SECRET_KEY",
                "is not set; give the same long random secret to every API process "
                '(python -c "import secrets; print(secrets.token_hex(32))")',
                "ALLOW_GENERATED_SECRET",
            )
        )
    if (
        str(config["RATELIMIT_STORAGE_URI"]).startswith("memory://")
        and not config["ALLOW_MEMORY_RATE_LIMITS"]
    ):
        found.append(
            Finding(
                "RATELIMIT_STORAGE_URI",
                "is memory://, counted apart in every worker; give Redis (redis://host:6379)",
                "ALLOW_MEMORY_RATE_LIMITS",
            )
        )
    backend = str(config["MEDIA_BACKEND"]).lower()
    if backend == "local" and not config["ALLOW_LOCAL_MEDIA"]:
        found.append(
            Finding(
                "MEDIA_BACKEND",
                "is local (photos on this machine's disk); set s3 with FIELDSAFE_S3_BUCKET "
                "and FIELDSAFE_S3_ENDPOINT_URL (MinIO, OSS or AWS)",
                "ALLOW_LOCAL_MEDIA",
            )
        )
    if backend == "s3" and not config["S3_BUCKET"]:
        found.append(Finding("S3_BUCKET", "is not set; FIELDSAFE_MEDIA_BACKEND=s3 needs it"))
    return found


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to start in production while any finding remains, naming every one."""
    if config["ENV"] != "production":
        return
    found = findings(config)
    if found:
        raise UnsafeProductionConfig(found)


@click.command("check")
def check_command() -> None:
    """Check the settings as production would, before a deployment; exit 1 naming each problem."""
    # Without the app: production refuses to create one while these findings stand.
    instance_path = Flask("app", instance_relative_config=True).instance_path
    config = load_config(instance_path, write_instance=False)
    if config["ENV"] != "production":
        click.echo(f"note: FIELDSAFE_ENV is {config['ENV']!r}; checked as production would")
    found = findings(config)
    for finding in found:
        click.echo(f"  - {finding}")
    if found:
        click.echo(f"{len(found)} setting(s) to fix before production starts", err=True)
        sys.exit(1)
    click.echo("ready for production: no demo-only defaults in use")
