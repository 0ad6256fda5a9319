"""Real servers on a free loopback port: gunicorn running ``app:create_app()``, and the
development server (``fieldsafe serve``'s request handler) in a thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from app.errors import JSONErrorRequestHandler
from tests.sync.live import ROOT, free_port


@contextmanager
def gunicorn(
    tmp: Path, settings: dict[str, str], workers: int = 1, access_log: Path | None = None
) -> Iterator[str]:
    """Run ``gunicorn -w N`` (reading the project's gunicorn.conf.py) with FIELDSAFE_* settings;
    yield its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDSAFE_")}
    env.update(
        FIELDSAFE_MEDIA_ROOT=str(tmp / "media"),
        FIELDSAFE_MEDIA_SPOOL=str(tmp / "spool"),
    )
    env.update({f"FIELDSAFE_{k}": v for k, v in settings.items()})
    args = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    if access_log is not None:
        # Each response's worker pid in the log: proof of which workers did the work.
        args += ["--access-logfile", str(access_log), "--access-logformat", "served-by %(p)s %(s)s"]
    log = tmp / f"gunicorn-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*args, "app:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text())
            time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@contextmanager
def dev_server(app: Any) -> Iterator[str]:
    """Serve `app` with the development server's handler in a thread; yield its base URL."""
    server = make_server(
        "127.0.0.1", free_port(), app, threaded=True, request_handler=JSONErrorRequestHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
