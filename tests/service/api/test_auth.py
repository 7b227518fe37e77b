"""The optional API key (BIOTAG_API_KEY): in process on the committed default bundle (real ONNX
Runtime session, real tokenizer) through Starlette's TestClient, and once against a real
`biotag serve` configured from the environment."""

from __future__ import annotations

import logging
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.api.auth import key_digests, key_matches, presented_key
from biotag.service.config import REPO_MODELS_DIR, Settings
from tests.conftest import ready_server

TEXT = "Cisplatin-induced nephrotoxicity was reduced in mice lacking the p53 gene."
KEYS = ("first-key-0123456789", "second-key-9876543210")
GUARDED = [("POST", "/tag"), ("GET", "/models"), ("GET", "/page/config")]
PROBES = ["/healthz", "/readyz", "/metrics"]


def _client(**settings: Any) -> TestClient:
    options = {"models_dir": REPO_MODELS_DIR, "intra_op_threads": 1, **settings}
    return TestClient(create_app(Settings(**options)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with _client(api_key=",".join(KEYS), max_request_bytes=4096) as running:
        yield running


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    body = {"json": {"text": TEXT}} if method == "POST" else {}
    return client.request(method, path, headers=headers, **body)


def _unauthorized(response: Any) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    message: str = error["message"]
    return message


def _rejections(client: TestClient, headers: dict[str, str] | None = None) -> float:
    exposition = client.get("/metrics", headers=headers).text
    found = re.search(r'biotag_rejections_total{reason="unauthorized"} (\S+)', exposition)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_the_api_needs_a_key_and_takes_each_of_several(
    client: TestClient, method: str, path: str
) -> None:
    before = _rejections(client)
    assert "Authorization: Bearer" in _unauthorized(_call(client, method, path, {}))
    assert "not valid" in _unauthorized(_call(client, method, path, _bearer("guess")))
    assert _rejections(client) == before + 2  # counted like every refusal
    for key in KEYS:  # several keys: one can be rotated out while the other is in use
        assert _call(client, method, path, _bearer(key)).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        f"Basic {KEYS[0]}",  # another scheme
        f"Bearer {KEYS[0][:-1]}",  # a prefix of a key
        f"Bearer {KEYS[0]}x",  # a key plus more
        f"Bearer {KEYS[0]},{KEYS[1]}",  # the setting's list is not a key
        "Bearer ",
        KEYS[0],  # no scheme at all
    ],
)
def test_anything_but_a_whole_key_is_refused(client: TestClient, authorization: str) -> None:
    _unauthorized(
        client.post("/tag", json={"text": TEXT}, headers={"Authorization": authorization})
    )


def test_the_scheme_is_case_insensitive(client: TestClient) -> None:
    response = client.post(
        "/tag", json={"text": TEXT}, headers={"Authorization": f"bearer {KEYS[1]}"}
    )
    assert response.status_code == 200


def test_unknown_routes_are_closed_too(client: TestClient) -> None:
    _unauthorized(client.get("/no-such-route"))  # no key, no map of the routes
    assert client.get("/no-such-route", headers=_bearer(KEYS[0])).status_code == 404


def test_the_key_is_checked_before_the_body_is_read(client: TestClient) -> None:
    too_large = b'{"text": "' + b"a" * 5000 + b'"}'
    _unauthorized(client.post("/tag", content=too_large))  # not 413: never read
    _unauthorized(client.post("/tag", content=b"{not json"))  # not 422: never parsed


def test_probes_and_the_page_stay_open_by_default(client: TestClient) -> None:
    for path in [*PROBES, "/", "/static/page.js", "/openapi.json"]:
        assert client.get(path).status_code == 200, path


def test_probes_can_need_the_key_too() -> None:
    with _client(api_key=KEYS[0], api_key_probes=True) as strict:
        for path in PROBES:
            _unauthorized(strict.get(path))
            assert strict.get(path, headers=_bearer(KEYS[0])).status_code == 200
        assert strict.get("/").status_code == 200  # the page itself: where the key is typed


def test_without_a_key_setting_nothing_asks_for_one() -> None:
    with _client() as open_client:
        for method, path in GUARDED:
            assert _call(open_client, method, path, {}).status_code == 200


def test_keys_are_never_printed_or_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(models_dir=REPO_MODELS_DIR, intra_op_threads=1, api_key=",".join(KEYS))
    assert not any(key in repr(settings) or key in str(settings) for key in KEYS)
    with TestClient(create_app(settings), raise_server_exceptions=False) as keyed:
        assert keyed.post("/tag", json={"text": TEXT}, headers=_bearer(KEYS[0])).status_code == 200
        _unauthorized(keyed.post("/tag", json={"text": TEXT}, headers=_bearer(KEYS[1] + "x")))
    assert caplog.records  # the service did log (the refusal, the start-up)
    assert not any(key in caplog.text for key in KEYS)


def test_settings_split_a_comma_separated_environment_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIOTAG_API_KEY", f" {KEYS[0]} ,, {KEYS[1]},")
    assert [key.get_secret_value() for key in Settings().api_key] == list(KEYS)
    monkeypatch.setenv("BIOTAG_API_KEY", "")
    assert Settings().api_key == []


def test_a_key_matches_only_itself() -> None:
    digests = key_digests(list(KEYS))
    assert key_matches(KEYS[1].encode(), digests)
    assert not key_matches(b"", digests)
    assert not key_matches(KEYS[0].encode() + b"\x00", digests)
    assert presented_key([(b"authorization", b"BEARER  k ")]) == b"k"
    assert presented_key([(b"authorization", b"Token k")]) is None


@pytest.mark.slow
def test_a_real_server_takes_its_keys_from_the_environment(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with ready_server(REPO_MODELS_DIR, log, BIOTAG_API_KEY=",".join(KEYS)) as server:
        with server.client() as http:
            refused = http.post("/tag", json={"text": TEXT})
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert refused.json()["error"]["code"] == "unauthorized"
            assert http.get("/readyz").status_code == 200  # probes open
            for key in KEYS:
                assert (
                    http.post("/tag", json={"text": TEXT}, headers=_bearer(key)).status_code == 200
                )
            wrong = http.get("/models", headers=_bearer("not-" + KEYS[0]))
            assert wrong.status_code == 401
        # without a key, a request from another client is refused as well
        assert httpx.get(f"{server.url}/models", timeout=30).status_code == 401
        # a client that sends its whole body before reading reads the 401 too
        big = urllib.request.Request(
            f"{server.url}/tag",
            data=b'{"text": "' + b"a" * (2 * 1024 * 1024) + b'"}',
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(big, timeout=60)
        assert caught.value.code == 401
        caught.value.close()
    logged = log.read_text(encoding="utf-8")
    assert "401" in logged  # the refusals are in the log...
    assert not any(key in logged for key in KEYS)  # ...the keys never
