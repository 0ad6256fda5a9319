"""Fixtures shared with the planning tests: a district to draw from, deterministic seeds."""

from tests.planning.test_plans import district, seeds  # noqa: F401
