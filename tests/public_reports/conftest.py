"""Fixtures for the public report tests (the hazards world: an enterprise and its cast)."""

from __future__ import annotations

from tests.hazards.conftest import clock, world  # noqa: F401 - shared fixtures
