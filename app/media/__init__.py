"""media domain: photo uploads (tus and PUT), metadata with signed URLs, local file serving."""

from app.media.routes import blp

__all__ = ["blp"]
