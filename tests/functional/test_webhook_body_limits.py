"""The webhook edge reads a body in bounded chunks: a chunked upload with no
Content-Length is refused with 413 once it passes 1 MiB, without the rest being read; a
declared length over the limit is refused before any byte is read; an encoded (gzip)
body is refused with 415 and a reason. Through the functions framework's app, as
deployed."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Response
from functions_framework import create_app
from werkzeug.test import EnvironBuilder, run_wsgi_app

from functions.webhooks import MAX_BODY_BYTES, READ_CHUNK_BYTES
from shared import clients
from shared.processing import DEAD_LETTERS

ROOT = Path(__file__).resolve().parents[2]
# 10 KiB on the wire that would inflate to 10 MiB
BOMB = gzip.compress(b"\0" * (10 * 1024 * 1024))
ENTRY_POINTS = ["deel_webhook", "salesforce_webhook", "vitally_webhook"]


class EndlessUpload:
    """A request body that arrives as long as it is read (200 MiB), counting what was read."""

    def __init__(self, total: int = 200 * 1024 * 1024) -> None:
        self.total = total
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        left = self.total - self.read_bytes
        size = left if size is None or size < 0 else min(size, left)
        self.read_bytes += size
        return b"x" * size

    def readline(self, size: int = -1) -> bytes:  # werkzeug's stream interface
        return self.read(size)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_DEEL_SIGNING_KEY", "k")
    monkeypatch.setenv("TAOPS_VITALLY_TOKEN", "t")
    monkeypatch.setenv("TAOPS_SALESFORCE_TOKEN", "t")
    clients.reset()
    yield lambda target: create_app(target, str(ROOT / "main.py"), "http")
    clients.reset()


def send(app: Any, environ: dict[str, Any]) -> Response:
    """The app's answer to a request given as its WSGI environ (the test client would
    measure the body first, which is the point not to do)."""
    body, status, headers = run_wsgi_app(app, environ)
    return Response(b"".join(body), status=status, headers=headers)


def streamed(body: EndlessUpload, **headers: str) -> dict[str, Any]:
    """The WSGI environ of a chunked POST: no Content-Length, the server ends the input."""
    environ = EnvironBuilder(path="/", method="POST", headers=headers).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": body, "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})
    return environ


@pytest.mark.parametrize("target", ENTRY_POINTS)
def test_a_chunked_200_mib_body_is_refused_having_read_little_more_than_1_mib(app, target: str) -> None:
    upload = EndlessUpload()

    response = send(app(target), streamed(upload, **{"Content-Type": "application/json"}))

    assert response.status_code == 413
    assert response.get_json() == {"error": "body over 1 MiB"}
    assert response.headers["Connection"] == "close"  # the server need not drain the rest
    assert MAX_BODY_BYTES < upload.read_bytes <= MAX_BODY_BYTES + READ_CHUNK_BYTES
    assert clients.store().query(DEAD_LETTERS) == []


def test_a_chunked_body_of_exactly_1_mib_is_read_whole_and_judged(app) -> None:
    upload = EndlessUpload(MAX_BODY_BYTES)

    response = send(app("vitally_webhook"), streamed(upload, **{"Content-Type": "application/json"}))

    assert response.status_code == 401  # read to its end, then judged: no token
    assert upload.read_bytes == MAX_BODY_BYTES
    [(_, kept)] = clients.store().query(DEAD_LETTERS)
    assert kept["raw_bytes"] == MAX_BODY_BYTES


@pytest.mark.parametrize("target", ENTRY_POINTS)
def test_a_declared_length_over_1_mib_is_refused_before_a_byte_is_read(app, target: str) -> None:
    upload = EndlessUpload()
    environ = streamed(upload)
    environ["CONTENT_LENGTH"] = str(200 * 1024 * 1024)
    del environ["HTTP_TRANSFER_ENCODING"]

    response = send(app(target), environ)

    assert response.status_code == 413
    assert upload.read_bytes == 0


@pytest.mark.parametrize("target", ENTRY_POINTS)
@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "deflate", "br"])
def test_an_encoded_body_is_refused_with_415_and_a_reason_without_being_inflated(
    app, target: str, encoding: str
) -> None:
    response = (
        app(target)
        .test_client()
        .post("/", data=BOMB, headers={"Content-Encoding": encoding, "Content-Type": "application/json"})
    )

    assert response.status_code == 415
    reason = json.loads(response.get_data())["error"]
    assert reason == f"Content-Encoding {encoding.lower()} not accepted: send the body uncompressed"
    assert clients.store().query(DEAD_LETTERS) == []


def test_identity_encoding_is_an_ordinary_body(app) -> None:
    response = (
        app("vitally_webhook").test_client().post("/", data=b"{}", headers={"Content-Encoding": "identity"})
    )

    assert response.status_code == 401  # judged as usual: it has no token
