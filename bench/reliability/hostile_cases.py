"""The hostile request corpus: each case sends one request the way an attacker or a broken
client would (raw sockets, http.client, urllib.request) and says what the contract answers."""

from __future__ import annotations

import gzip
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bench.reliability import rawhttp
from bench.reliability.rawhttp import Answer

# the hostile server's own timeouts: short, so that slow cases finish in seconds
HEADER_TIMEOUT_S = 5.0
BODY_TIMEOUT_S = 5.0
SERVER_ENV = {
    "BIOTAG_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    "BIOTAG_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
}
MAX_CHARS = 200_000  # BIOTAG_MAX_DOCUMENT_CHARS's default
BIG_BYTES = 20 * 1024 * 1024  # over BIOTAG_MAX_REQUEST_BYTES (8 MiB), under the 64 MiB drain
CONTROLS_TEXT = "BRCA1\x00 mutations\x01 cause\x1f hereditary \x85breast cancer\x9f.\x7f\x0b"
SENTENCE = "BRCA1 mutations cause hereditary breast cancer."
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Case:
    name: str
    send: Callable[[int], Answer]  # the server's port -> its answer
    expected: frozenset[int]  # statuses the contract allows
    bound_s: float  # answered within this, or the case fails
    expensive: bool = False  # real work (a huge document): the probe may slow down meanwhile
    check: Callable[[Answer], str | None] | None = None  # more to check on a 200
    quick: bool = True  # part of the short form


def _post(port: int, body: bytes, headers: dict[str, str] = JSON, path: str = "/tag") -> Answer:
    """One POST with http.client (Content-Length set), the answer whatever its status."""
    began = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        lowered = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, lowered, payload, time.monotonic() - began)
    except OSError as exc:
        return Answer(None, seconds=time.monotonic() - began, error=type(exc).__name__)
    finally:
        connection.close()


def _json_post(document: object) -> Callable[[int], Answer]:
    body = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return lambda port: _post(port, body)


def _raw_post(body: bytes, headers: dict[str, str] = JSON) -> Callable[[int], Answer]:
    return lambda port: _post(port, body, headers)


def _offsets_exact(text: str, trained: bool) -> Callable[[Answer], str | None]:
    """Every entity's text is text[start:end]; a trained model (not ALBERT-base's random
    weights) also finds the disease."""

    def check(answer: Answer) -> str | None:
        entities = json.loads(answer.body)["documents"][0]["entities"]
        wrong = [e for e in entities if text[e["start"] : e["end"]] != e["text"]]
        if wrong:
            return f"{len(wrong)} entities whose text is not text[start:end], e.g. {wrong[0]}"
        if trained and not any(e["type"] == "Disease" for e in entities):
            return f"'breast cancer' not tagged: {entities}"
        return None

    return check


def _urllib_big(port: int) -> Answer:
    """The issue's own reproduction: 20 MB with the standard library's urllib.request."""
    body = b'{"text": "' + b"a" * (BIG_BYTES - 12) + b'"}'
    request = urllib.request.Request(f"http://127.0.0.1:{port}/tag", data=body, headers=JSON)
    began = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return Answer(response.status, dict(response.headers), response.read(), 0.0)
    except urllib.error.HTTPError as exc:
        headers = {name.lower(): value for name, value in exc.headers.items()}
        return Answer(exc.code, headers, exc.read(), time.monotonic() - began)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Answer(None, seconds=time.monotonic() - began, error=type(reason).__name__)


def _slow_big(port: int) -> Answer:
    """20 MB declared, sent at 64 KiB/s: answered (413 or 408) long before it could finish."""
    head = rawhttp.head("POST", "/tag", JSON | {"Content-Length": str(BIG_BYTES)}, port)
    chunks = (b"a" * 16384 for _ in range(BIG_BYTES // 16384))
    return rawhttp.exchange(port, [head, *chunks], 0.25, 3 * BODY_TIMEOUT_S + 5)


def _slowloris_headers(port: int) -> Answer:
    head = rawhttp.head("POST", "/tag", JSON | {"Content-Length": "100"}, port)
    one_by_one = (head[i : i + 1] for i in range(len(head)))
    return rawhttp.exchange(port, one_by_one, 1.0, 3 * HEADER_TIMEOUT_S + 5)


def _trickled_body(port: int) -> Answer:
    body = json.dumps({"text": SENTENCE * 20}).encode()
    head = rawhttp.head("POST", "/tag", JSON | {"Content-Length": str(len(body))}, port)
    parts: Iterator[bytes] = iter([head, *(body[i : i + 1] for i in range(len(body)))])
    return rawhttp.exchange(port, parts, 1.0, 3 * BODY_TIMEOUT_S + 5)


def _no_content_type(port: int) -> Answer:
    return _post(port, json.dumps({"text": SENTENCE}).encode(), {})


def _punctuated(chars: int) -> str:
    unit = "BRCA1-mutations,cause;breast-cancer."  # every piece a token: ~1 token per 3 chars
    return (unit * (chars // len(unit) + 1))[:chars]


def corpus(trained: bool = True) -> list[Case]:
    """Every case; ``trained``: the bundle's model really tags (the committed default does)."""
    nested = b'{"documents": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    bomb = gzip.compress(b'{"text": "' + b"0" * 10_000_000 + b'"}', compresslevel=9)
    multipart = (
        b'--x\r\nContent-Disposition: form-data; name="text"\r\n\r\n'
        + SENTENCE.encode()
        + b"\r\n--x--\r\n"
    )
    s = frozenset
    return [
        Case(
            "invalid UTF-8 bytes in the body",
            _raw_post(b'{"text": "caf\xc3 \xff\xfe"}'),
            s({422}),
            5,
        ),
        Case(
            "unpaired surrogate \\ud800 in text",
            _raw_post(b'{"text": "BRCA1 \\ud800 x"}'),
            s({422}),
            5,
        ),
        Case(
            "unpaired surrogate \\udc00 in id",
            _raw_post(b'{"documents": [{"id": "\\udc00", "text": "BRCA1"}]}'),
            s({422}),
            5,
        ),
        Case(
            "NUL, C0 and C1 controls in text",
            _json_post({"text": CONTROLS_TEXT}),
            s({200}),
            10,
            check=_offsets_exact(CONTROLS_TEXT, trained),
        ),
        Case(
            # one [UNK] for WordPiece (the default bundle), ~50k pieces for SentencePiece
            "200,000-character word",
            _json_post({"text": "Carcinoma" * 22_222 + "xx"}),
            s({200}),
            600,
            expensive=True,
        ),
        Case(
            "200,000 characters, no spaces, punctuated (~67k tokens)",
            _json_post({"text": _punctuated(MAX_CHARS)}),
            s({200}),
            600,
            expensive=True,
            quick=False,
        ),
        Case(
            "200,001-character document", _json_post({"text": "x" * (MAX_CHARS + 1)}), s({413}), 10
        ),
        Case("JSON nested 100,000 levels", _raw_post(nested), s({422}), 10),
        Case("100,000 unclosed [", _raw_post(b"[" * 100_000), s({422}), 10),
        Case(
            "duplicate keys (undocumented: 200 last-wins or 422)",
            _raw_post(b'{"text": "nothing", "text": "' + SENTENCE.encode() + b'"}'),
            s({200, 422}),
            10,
            check=_offsets_exact(SENTENCE, trained),  # on a 200: the last value was tagged
        ),
        Case(
            "malformed HTTP: garbage request line",
            lambda port: rawhttp.exchange(port, [b"\x16\x03\x01 not http\r\n\r\n"], 0.0, 10),
            s({400}),
            5,
        ),
        Case(
            "malformed HTTP: Content-Length not a number",
            lambda port: rawhttp.exchange(
                port,
                [rawhttp.head("POST", "/tag", JSON | {"Content-Length": "12x"}, port)],
                0.0,
                10,
            ),
            s({400}),
            5,
        ),
        Case(
            "Content-Type: text/plain",
            _raw_post(b'{"text": "BRCA1"}', {"Content-Type": "text/plain"}),
            s({415}),
            5,
        ),
        Case(
            "Content-Type: multipart/form-data",
            _raw_post(multipart, {"Content-Type": "multipart/form-data; boundary=x"}),
            s({415}),
            5,
        ),
        Case(
            "no Content-Type (refused, as FastAPI would not parse it)",
            _no_content_type,
            s({415}),
            5,
        ),
        Case(
            f"gzip bomb: 10 MB of zeros in {len(bomb) // 1024} KB, Content-Encoding: gzip",
            _raw_post(bomb, JSON | {"Content-Encoding": "gzip"}),
            s({415}),
            5,
        ),
        Case("20 MB body with urllib.request", _urllib_big, s({413}), 30),
        Case("20 MB declared, sent at 64 KiB/s", _slow_big, s({408, 413}), 3 * BODY_TIMEOUT_S),
        Case(
            "slowloris: headers one byte per second",
            _slowloris_headers,
            s({408}),
            3 * HEADER_TIMEOUT_S,
        ),
        Case("body trickled one byte per second", _trickled_body, s({408}), 3 * BODY_TIMEOUT_S),
    ]
