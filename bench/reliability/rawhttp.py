"""HTTP/1.1 over a plain socket, byte by byte if asked: the requests that well-behaved clients
(httpx, requests) refuse to send or cannot send slowly. One request per connection."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (closed, reset or timed out first)
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""
    seconds: float = 0.0  # from the first byte sent to the answer read (or the failure)
    error: str | None = None  # what went wrong on the client's side, e.g. ConnectionResetError
    closed: bool = False  # the server closed the connection after answering

    def describe(self) -> str:
        if self.status is None:
            return f"no answer ({self.error}) after {self.seconds:.1f} s"
        text = f"{self.status} in {self.seconds:.2f} s"
        return text + (f" (then {self.error})" if self.error else "")


def head(
    method: str, path: str, headers: dict[str, str], port: int, host: str = "127.0.0.1"
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(
    port: int,
    parts: Iterable[bytes],
    pace_s: float = 0.0,
    deadline_s: float = 60.0,
    host: str = "127.0.0.1",
) -> Answer:
    """Send ``parts`` one after another, ``pace_s`` apart, reading whatever the server answers
    meanwhile; stop sending once it answered. The answer, or why none came in ``deadline_s``."""
    began = time.monotonic()
    received = bytearray()
    error: str | None = None
    with socket.create_connection((host, port), timeout=deadline_s) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for part in parts:
                if _answered(sock, received):
                    break
                sock.sendall(part)
                if pace_s:
                    _wait_readable(sock, received, min(pace_s, _left(began, deadline_s)))
                if _left(began, deadline_s) <= 0:
                    break
        except OSError as exc:  # the server closed while we sent: read what it said first
            error = type(exc).__name__
        try:
            closed = _read_answer(sock, received, began, deadline_s)
        except OSError as exc:
            error, closed = error or type(exc).__name__, True
    seconds = time.monotonic() - began
    answer = parse(bytes(received))
    if answer is None:
        reason = error or ("closed" if closed else f"nothing in {deadline_s:g} s")
        return Answer(None, seconds=seconds, error=reason, closed=closed)
    status, headers, body = answer
    return Answer(status, headers, body, seconds, error, closed)


def _left(began: float, deadline_s: float) -> float:
    return began + deadline_s - time.monotonic()


def _answered(sock: socket.socket, received: bytearray) -> bool:
    """Whether the server already said something (read without blocking)."""
    _wait_readable(sock, received, 0.0)
    return b"\r\n\r\n" in received


def _wait_readable(sock: socket.socket, received: bytearray, timeout: float) -> None:
    readable, _, _ = select.select([sock], [], [], max(0.0, timeout))
    if readable:
        chunk = sock.recv(65536)
        received.extend(chunk)


def _read_answer(sock: socket.socket, received: bytearray, began: float, deadline_s: float) -> bool:
    """Read until the answer is complete; True if the server closed the connection."""
    while True:
        answer = parse(bytes(received))
        if answer is not None and _complete(bytes(received)):
            break
        left = _left(began, deadline_s)
        if left <= 0:
            return False
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            return False
        chunk = sock.recv(65536)
        if not chunk:
            return True
        received.extend(chunk)
    # closed right after the answer? (a short look: the contract closes after 408 and 413)
    readable, _, _ = select.select([sock], [], [], 0.3)
    if readable:
        try:
            return sock.recv(1) == b""
        except OSError:
            return True
    return False


def _complete(raw: bytes) -> bool:
    head_end = raw.find(b"\r\n\r\n")
    parsed = parse(raw)
    if head_end < 0 or parsed is None:
        return False
    length = parsed[1].get("content-length")
    return length is None or len(raw) - head_end - 4 >= int(length)


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """Status, headers and body of an HTTP/1.1 answer (Content-Length framed), or None."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = raw[:head_end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    headers = {
        name.strip().lower(): value.strip()
        for name, value in (line.split(":", 1) for line in lines[1:] if ":" in line)
    }
    body = raw[head_end + 4 :]
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return int(parts[1]), headers, body
