"""Fixtures shared with the hazard tests."""

from __future__ import annotations

from tests.hazards.conftest import clock, committed_app, world  # noqa: F401 - shared fixtures
