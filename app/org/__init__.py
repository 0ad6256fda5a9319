"""Jurisdictions, departments, users and scopes."""
