"""Fixtures for the hazard tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hazards.helpers import Clock, World


@pytest.fixture
def clock(app: Any) -> Clock:
    """Freeze the app's clock at T0 (advance it by hand)."""
    c = Clock()
    app.config["CLOCK"] = c
    return c


@pytest.fixture
def world(app: Any, client: Any, make: Any, login: Any, clock: Clock) -> World:
    """The enterprise and the cast of users."""
    return World(app, client, make, login)
