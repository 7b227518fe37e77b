"""Schema fuzzing: schemathesis generates requests from the live server's /openapi.json, valid
(every `?format=` of /tag) and invalid ones, plus every other method on every route and unknown
routes. Promises checked on each answer: no 5xx; an error answer is the contract's envelope with
its code, Content-Type and Retry-After; a 200 of /tag has its format's Content-Type. Also every
schemathesis check (`validate_response`, all of them), whose failures are counted by kind; and
the service is ready afterwards."""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.reporting import with_reporter
from schemathesis import APIOperation, Case, GenerationMode, Response

from bench.reliability.contract import error_problem
from bench.reliability.report import Row
from bench.reliability.servers import Server, Target, running
from biotag.service.text.formats import MEDIA_TYPES, OutputFormat

Operation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Any]
PART = "fuzz"
# generated cases per (operation, mode): (full, quick); /tag's valid cases once per format
TAG_VALID_PER_FORMAT = (180, 20)
TAG_INVALID = (350, 40)
OTHER_ROUTE_CASES = (25, 5)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
UNKNOWN_PATHS = ("/tags", "/tag/", "/models/../etc/passwd", "/%2e%2e/", "/" + "a" * 2000)
# schemathesis checks left out, with why: none. Its failures are reported, not hidden; the ones
# the contract explains (a schema-valid body refused by a limit the schema cannot express) are
# named in the row's outcome.


@dataclass
class Tally:
    """What the generated requests got back."""

    cases: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    by_route: collections.Counter[str] = field(default_factory=collections.Counter)
    server_errors: list[str] = field(default_factory=list)  # one line per 5xx
    contract: collections.Counter[str] = field(default_factory=collections.Counter)
    schemathesis: collections.Counter[str] = field(default_factory=collections.Counter)
    examples: dict[str, str] = field(default_factory=dict)  # a curl line per failure kind
    transport_errors: list[str] = field(default_factory=list)

    def record(self, route: str, status: int, problems: list[str], example: str) -> None:
        self.cases += 1
        self.by_route[route] += 1
        self.statuses[status] += 1
        if status >= 500:
            self.server_errors.append(f"{status} {example}")
        for problem in problems:
            self.contract[problem] += 1
            self.examples.setdefault(problem, example)


def answer_problems(
    status: int, headers: Mapping[str, Any], body: bytes, expected_media: str | None
) -> list[str]:
    """The contract's promises broken by one answer; ``expected_media``: a 2xx's media type.
    ``headers``: values as strings, or lists of them (schemathesis' responses)."""
    lowered = {
        name.lower(): ", ".join(value) if isinstance(value, list) else str(value)
        for name, value in headers.items()
    }
    if status >= 400:
        problem = error_problem(status, lowered, body)
        return [] if problem is None else [_kind(problem)]
    media = lowered.get("content-type", "")
    if expected_media is not None and media != expected_media:
        return [f"{status}: Content-Type {media!r}, expected {expected_media!r}"]
    return []


def _kind(problem: str) -> str:
    """A problem without the body it quotes, so that equal problems count together."""
    return problem.split(": body not in the error envelope")[0] + (
        ": body not in the error envelope" if "error envelope" in problem else ""
    )


def _schemathesis_failures(case: AnyCase, response: Response) -> list[str]:
    try:
        case.validate_response(response)
    except BaseExceptionGroup as group:
        return [_failure_name(exc) for exc in group.exceptions]
    except AssertionError as exc:
        return [_failure_name(exc)]
    return []


def _failure_name(exc: BaseException) -> str:
    code = getattr(exc, "code", "")
    title = getattr(exc, "title", type(exc).__name__)
    return f"{code} {title}".strip()


def _format_label(query: Mapping[str, Any]) -> str:
    if "format" not in query:
        return ""
    value = query["format"]
    return f"?format={value}" if value in set(OutputFormat) else "?format=(invalid)"


def _expected_media(operation: Operation, case: AnyCase) -> str | None:
    if operation.path != "/tag":
        return None
    try:
        return MEDIA_TYPES[OutputFormat((case.query or {}).get("format", "json"))]
    except ValueError:
        return None  # an invalid format: answered 422, checked as an error


def servable(case: AnyCase, served: list[str]) -> AnyCase:
    """The case with only served model names in ``models`` (generated names are almost never
    served, and a 404 stops the request before any text is tagged)."""
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("models"), list):
        models: list[Any] = body["models"]  # type: ignore[assignment]  # checked just above
        names: list[Any] = [name for name in models if name in served] or served[:1]
        case.body = {**body, "models": names}
    return case


def _has_text(case: AnyCase) -> bool:
    body = case.body
    return isinstance(body, dict) and (body.get("documents") or body.get("text")) is not None


def _drive(
    operation: Operation,
    mode: GenerationMode,
    count: int,
    send: Callable[[Operation, AnyCase], None],
    query: dict[str, Any] | None = None,
    served: list[str] | None = None,
) -> None:
    """``count`` cases of ``mode``; with ``served``: only bodies with text, served models only."""
    strategy = operation.as_strategy(generation_mode=mode, query=query)
    if served is not None:
        strategy = strategy.filter(_has_text).map(lambda case: servable(case, served))

    # no shrinking and no stop at the first failure: every case is recorded, none raises
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def generated(case: AnyCase) -> None:
        send(operation, case)

    # quiet: hypothesis prints a seed to reproduce whenever a run "fails", Unsatisfiable included
    with contextlib.suppress(Unsatisfiable), with_reporter(lambda _: None):
        generated()  # Unsatisfiable: nothing invalid to send (an operation without parameters)


def _operation(result: Any) -> Operation:
    """The operation, or the schema problem that kept schemathesis from reading it, raised."""
    if hasattr(result, "err"):
        raise result.err()
    operation: Operation = result.ok()
    return operation


def fuzz(server: Server, quick: bool) -> tuple[Tally, collections.Counter[str]]:
    """Every generated case against ``server``; the tally and the schemathesis failure kinds."""
    pick = 1 if quick else 0
    tally = Tally()
    failures: collections.Counter[str] = collections.Counter()
    session = requests.Session()
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [_operation(result) for result in schema.get_all_operations()]
    served = [model["name"] for model in session.get(f"{server.url}/models").json()["models"]]

    def send(operation: Operation, case: AnyCase) -> None:
        label = f"{operation.method.upper()} {operation.path}"
        try:
            response = case.call(base_url=server.url, session=session, timeout=60)
        except requests.RequestException as exc:
            tally.transport_errors.append(f"{label}: {type(exc).__name__}")
            return
        route = label + _format_label(case.query or {})
        problems = answer_problems(
            response.status_code,
            response.headers,
            response.content,
            _expected_media(operation, case),
        )
        tally.record(route, response.status_code, problems, case.as_curl_command()[:400])
        for name in _schemathesis_failures(case, response):
            failures[name] += 1
            tally.examples.setdefault(name, case.as_curl_command()[:400])

    for operation in operations:
        if operation.path == "/tag":
            for output in OutputFormat:
                query = {"format": output.value}
                half = TAG_VALID_PER_FORMAT[pick] // 2
                _drive(operation, GenerationMode.POSITIVE, half, send, query)
                _drive(operation, GenerationMode.POSITIVE, half, send, query, served)
            _drive(operation, GenerationMode.NEGATIVE, TAG_INVALID[pick], send)
        else:
            for mode in GenerationMode:
                _drive(operation, mode, OTHER_ROUTE_CASES[pick], send)
    _probe_methods_and_paths(server, session, [op.path for op in operations], tally)
    return tally, failures


def _probe_methods_and_paths(
    server: Server, session: requests.Session, paths: list[str], tally: Tally
) -> None:
    """Methods a route does not have (405) and routes that do not exist (404)."""
    requests_to_send = [(method, path) for path in paths for method in METHODS]
    requests_to_send += [(method, path) for path in UNKNOWN_PATHS for method in ("GET", "POST")]
    for method, path in requests_to_send:
        try:
            response = session.request(method, f"{server.url}{path}", json={}, timeout=60)
        except requests.RequestException as exc:
            tally.transport_errors.append(f"{method} {path}: {type(exc).__name__}")
            continue
        problems = answer_problems(response.status_code, response.headers, response.content, None)
        tally.record(f"{method} {path[:40]}", response.status_code, problems, f"{method} {path}")


def ready(server: Server) -> bool:
    for _ in range(20):
        try:
            if requests.get(f"{server.url}/readyz", timeout=10).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


DOCUMENTED_REFUSAL = "ST202"  # schemathesis: "Schema-valid request rejected"


def rows_of(
    target: Target, tally: Tally, failures: collections.Counter[str], is_ready: bool, seconds: float
) -> list[Row]:
    """The summary row, then a row per kind of broken promise and of schemathesis failure."""
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items()))
    figures: dict[str, float | int | str] = {
        "cases": tally.cases,
        "routes": len(tally.by_route),
        "5xx": len(tally.server_errors),
        "envelope_problems": sum(tally.contract.values()),
        "transport_errors": len(tally.transport_errors),
        "seconds": round(seconds, 1),
    }
    promise = not tally.server_errors and not tally.contract and not tally.transport_errors
    case = f"{tally.cases} generated requests, {len(tally.by_route)} route/format/method pairs"
    outcome = f"statuses {statuses}; readyz after: {'200' if is_ready else 'NOT ready'}"
    rows = [Row(PART, target.name, case, outcome, figures, ok=promise and is_ready)]
    broken = [
        (f"{count} x {problem}", tally.examples.get(problem, ""))
        for problem, count in tally.contract.most_common(10)
    ]
    broken += [("server error", line) for line in tally.server_errors[:5]]
    broken += [("no answer", line) for line in tally.transport_errors[:5]]
    for what, example in broken:
        rows.append(Row(PART, target.name, what, f"e.g. {example[:300]}", {}, ok=False))
    for name, count in failures.most_common(10):
        example = f"e.g. {tally.examples.get(name, '')[:300]}"
        # a 4xx in the envelope for a request the schema allows: a rule it cannot express
        # (PubTator ids, request limits); the envelope itself is checked above
        documented = name.startswith(DOCUMENTED_REFUSAL)
        if documented:
            example = f"refused in the envelope by a documented rule; {example}"
        what = f"schemathesis {name}: {count} cases"
        rows.append(Row(PART, target.name, what, example, {}, ok=documented))
    return rows


def run(target: Target, quick: bool) -> list[Row]:
    with running(target) as server:
        began = time.monotonic()
        tally, failures = fuzz(server, quick)
        seconds = time.monotonic() - began
        return rows_of(target, tally, failures, ready(server), seconds)
