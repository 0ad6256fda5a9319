"""Fixtures for the review tests (the hazards world, plus submitted inspections)."""

from __future__ import annotations

from tests.hazards.conftest import clock, world  # noqa: F401 - shared fixtures
