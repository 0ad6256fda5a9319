"""sync domain: the HTTP face of the offline-sync engine (push, pull)."""

from app.sync.routes import blp


def _register_media_hook() -> None:
    """Let stored photos clear media_pending on the findings that wait for them."""
    from app.media.services import register_stored_hook
    from app.sync.services import media_arrived

    register_stored_hook(media_arrived)


_register_media_hook()

__all__ = ["blp"]
