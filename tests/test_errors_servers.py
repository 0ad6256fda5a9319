"""Refusals that happen in the server, before or around the app, are the JSON error body too,
through the development server (`fieldsafe serve`) and gunicorn (the test client cannot send
what these servers refuse)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import requests

from tests.servers import dev_server, gunicorn

JSON = "application/json"


def _me(base: str, token_bytes: int, extra: dict[str, str] | None = None) -> requests.Response:
    headers = {"Authorization": "Bearer " + "x" * token_bytes, **(extra or {})}
    return requests.get(base + "/api/v1/me", headers=headers, timeout=30)


def _is_431(resp: requests.Response, says: str = "请求头") -> None:
    assert resp.status_code == 431, resp.text
    assert resp.headers["Content-Type"].startswith(JSON), resp.text
    body = resp.json()
    assert body["code"] == "request_header_too_large" and body["status"] == 431
    assert says in body["message"]  # Chinese unless the request could say otherwise


def test_dev_server_answers_oversized_headers_with_json(app):
    with dev_server(app) as base:
        _is_431(_me(base, 10_000))  # over FIELDSAFE_MAX_HEADER_BYTES: the app refuses it
        _is_431(_me(base, 10_000, {"Accept-Language": "en"}), "header")
        _is_431(_me(base, 70_000))  # over http.server's 64 KiB line: the server refuses it
        # The server refuses before it reads the headers, so it cannot read Accept-Language.
        _is_431(_me(base, 70_000, {"Accept-Language": "en"}))
        many = {f"X-Header-{n}": "1" for n in range(120)}  # http.server takes at most 100
        _is_431(_me(base, 10, many))
        assert _me(base, 40).json()["code"] == "auth.invalid_token"  # a normal one goes through


def test_dev_server_answers_a_malformed_request_line_with_json(app):
    with dev_server(app) as base:
        where = urlsplit(base)
        with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz extra HTTP/1.1\r\n\r\n")
            reply = sock.makefile("rb").read().decode()
    head, _, body = reply.partition("\r\n\r\n")
    assert head.split()[1] == "400" and "Content-Type: application/json" in head
    assert json.loads(body)["code"] == "bad_request"


def test_gunicorn_answers_oversized_headers_with_json(tmp_path):
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}", "SECRET_KEY": "x"}
    with gunicorn(tmp_path, settings) as base:
        _is_431(_me(base, 10_000))  # over gunicorn's own default (8190): the app answers
        _is_431(_me(base, 30_000, {"Accept-Language": "en"}), "header")
