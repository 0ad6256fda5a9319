"""Typed settings: parsed once from the app config, with the same defaults as app/config.py."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from app.config import DEFAULTS
from app.settings import Settings, get_settings, override_settings


def test_settings_are_parsed_from_strings_into_their_types() -> None:
    settings = Settings.from_config(
        {
            "HAZARD_RESPONSIBLE_DEPARTMENTS": " gas_catering:construction , high_rise:fire,junk",
            "HAZARD_DUE_SOON_DAYS": "2.5",
            "HAZARD_DEADLINE_DAYS_MAJOR": "30",
            "WEBHOOK_URLS": "https://a.example/hook, ,https://b.example/hook",
        }
    )
    assert settings.hazard_responsible_departments == {
        "gas_catering": "construction",
        "high_rise": "fire",
    }
    assert settings.responsible_department("high_rise") == "fire"
    assert settings.responsible_department("unknown") == "emergency"
    assert settings.hazard_due_soon_days == 2.5
    assert settings.deadline_days("major") == 30 and settings.deadline_days("general") == 7
    assert settings.webhook_urls == ("https://a.example/hook", "https://b.example/hook")


def test_the_defaults_match_the_app_config_defaults() -> None:
    from_config = Settings.from_config(DEFAULTS)
    plain = Settings()
    for f in dataclasses.fields(Settings):
        if f.name != "hazard_responsible_departments":
            assert getattr(from_config, f.name) == getattr(plain, f.name), f.name
    assert from_config.responsible_department("gas_catering") == "construction"


def test_the_app_parses_its_settings_once_and_they_are_frozen(app: Any) -> None:
    with app.app_context():
        first = get_settings()
        assert get_settings() is first
        with pytest.raises(dataclasses.FrozenInstanceError):
            first.hazard_number_prefix = "x"  # type: ignore[misc]
        changed = override_settings(app, hazard_number_prefix="徐汇隐")
        assert get_settings() is changed and changed.hazard_number_prefix == "徐汇隐"
        assert first.hazard_number_prefix == "长宁隐"
