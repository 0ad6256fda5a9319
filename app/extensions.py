"""Extensions created unbound here and bound to an app in create_app()."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_smorest import Api

api = Api()
#: Counters in RATELIMIT_STORAGE_URI (Redis in production: one count for every worker).
limiter = Limiter(
    key_func=get_remote_address,
    # Exact windows: a lock lasts as long as it says, with no burst at a window's edge.
    strategy="moving-window",
    # Evaluate every limit, so Retry-After names the longest wait, not the first one breached.
    fail_on_first_breach=False,
    headers_enabled=True,
    # Redis unreachable: count in each worker's memory meanwhile, never answer 500.
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)
