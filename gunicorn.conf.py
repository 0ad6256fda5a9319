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


#: Header fields up to 32 KiB reach the app, which refuses any over FIELDSAFE_MAX_HEADER_BYTES
#: (8 KiB) with the JSON 431 body; gunicorn's own refusal (its default is 8190) is an HTML page.
limit_request_field_size = 32768
