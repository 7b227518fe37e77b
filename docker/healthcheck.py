#!/usr/bin/env python3
"""Container health check for biotag: exit 0 iff GET /readyz answers 200.

Used by the images' HEALTHCHECK and by docker-compose.yml. Standard library
only (the images carry no curl/wget), and it reads the same BIOTAG_PORT the
server listens on, so a changed port does not silently break the check.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def _probe_headers() -> dict[str, str]:
    """The API key, when the service asks it of probes too (BIOTAG_API_KEY_PROBES)."""
    keys = os.environ.get("BIOTAG_API_KEY", "")
    probes = os.environ.get("BIOTAG_API_KEY_PROBES", "").strip().lower()
    if not keys or probes not in ("1", "true", "yes", "on"):
        return {}
    return {"Authorization": f"Bearer {keys.split(',')[0].strip()}"}


def main() -> int:
    port = os.environ.get("BIOTAG_PORT", "8000")
    path = os.environ.get("BIOTAG_HEALTHCHECK_PATH", "/readyz")
    timeout = float(os.environ.get("BIOTAG_HEALTHCHECK_TIMEOUT_S", "2.5"))
    url = f"http://127.0.0.1:{port}{path}"
    request = urllib.request.Request(url, headers=_probe_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:  # 503 while loading or draining
        status = exc.code
    except (OSError, ValueError) as exc:  # refused, timed out, bad port
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
