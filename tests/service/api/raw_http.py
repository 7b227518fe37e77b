"""HTTP/1.1 over a plain socket for the guard tests: requests that stop half-way, and answers
read byte for byte, where an HTTP client would hide what the server did."""

from __future__ import annotations

import socket

from tests.conftest import RunningServer


def address(server: RunningServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def read_answer(sock: socket.socket, within_s: float) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one answer (read until the connection closes or the body
    is complete)."""
    sock.settimeout(within_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body
