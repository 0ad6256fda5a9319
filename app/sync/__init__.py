"""sync domain: the HTTP face of the offline-sync engine (push, pull)."""

from app.sync.routes import blp

__all__ = ["blp"]
