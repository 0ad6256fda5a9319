"""gunicorn settings, read when gunicorn starts in this directory (see README: Configuration).

Command-line flags (``-w 4``, ``-b``) still override what is set here.
"""

import gc
from typing import Any


def post_worker_init(worker: Any) -> None:
    """Move what the app built at start-up out of the garbage collector's way.

    The app, its mappers, schemas and OpenAPI spec are long-lived; frozen, they are no
    longer rescanned by every full collection a request's allocations trigger.
    """
    gc.collect()
    gc.freeze()
