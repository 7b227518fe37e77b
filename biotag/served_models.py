"""What a running biotag service serves, asked over HTTP: shared by the clients that drive one
(`biotag eval --url`, `biotag tag --url`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


class ServedModelsError(Exception):
    """The service cannot be reached, or does not serve the requested models (one-line)."""


async def served_models(
    client: httpx.AsyncClient, url: str, requested: list[str] | None
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The requested model names, deduplicated (all served ones when None, sorted), and every
    served model's GET /models entry by name."""
    import httpx

    try:
        listing = await client.get("/models")
    except httpx.HTTPError as exc:
        raise ServedModelsError(f"cannot reach {url}: {exc}") from exc
    if listing.status_code != 200:
        raise ServedModelsError(f"GET {url.rstrip('/')}/models: HTTP {listing.status_code}")
    served = {model["name"]: model for model in listing.json()["models"]}
    names = list(dict.fromkeys(requested)) if requested else sorted(served)
    unknown = [name for name in names if name not in served]
    if unknown:
        raise ServedModelsError(f"unknown model(s) {unknown}; served: {sorted(served)}")
    return names, served
