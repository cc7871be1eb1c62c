"""Each operation of the served OpenAPI document lists exactly the error statuses it can
answer, checked against real servers: for every status an operation declares (but 503, the
database away: tests/test_database_outage.py), a request here gets it; and requests one
might expect to fail, with statuses the operation does not declare, do not.

Two servers on one database: one with no API keys (a client off loopback is refused there,
as uvicorn reads it from a loopback proxy's X-Forwarded-For), one with keys (a missing key,
a key without the scope)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.access import new_key
from bootstrap import Settings, bootstrap
from tests.conftest import Server
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.http_helpers import PROBLEM_JSON, path

BODY_LIMIT = 4096
BATCH_BODY_LIMIT = 8192
FAR_CLIENT = {"X-Forwarded-For": "203.0.113.9"}  # a header only: never contacted
XAPI = {"X-Experience-API-Version": "2.0.0"}
NO_SUCH_WEBHOOK = "wh_" + "0" * 32


@dataclass
class Clients:
    open: httpx.Client  # no API keys
    keyed: httpx.Client  # keys configured; sends none
    read_key: httpx.Client
    write_key: httpx.Client


@dataclass
class Servers(Clients):
    """The clients, and what the world made on the servers holds."""

    course: str
    enrollment: str  # ada's, active
    withdrawn: str  # bob's
    webhook: str
    statement: dict[str, Any]


Ask = Callable[[Servers], httpx.Response]


def ask(method: str, url: Callable[[Servers], str], **kwargs: Any) -> Ask:
    """A request to the server with no keys; `url` is made from what the servers hold."""
    return lambda s: s.open.request(method, url(s), **kwargs)


def enrollment_url(which: str, *rest: str) -> Callable[[Servers], str]:
    def url(s: Servers) -> str:
        enrollment = {"ada": s.enrollment, "bob": s.withdrawn}.get(which, which)
        return path("v1", "enrollments", enrollment, *rest)

    return url


def course_url(*rest: str) -> Callable[[Servers], str]:
    return lambda s: path("v1", "courses", s.course, *rest)


def fixed(url: str) -> Callable[[Servers], str]:
    return lambda _: url


def statement(s: Servers, **changed: Any) -> dict[str, Any]:
    return {**s.statement, **changed}


NOBODY = str(uuid.UUID(int=7))
REBUILDS = "/v1/projections/course_progress/rebuilds"

# The statuses each operation's own checks answer, and a request that gets each.
OWN: dict[str, dict[int, Ask]] = {
    "learner_course_progress": {
        404: ask(
            "GET", lambda s: path("v1", "learners", "nobody", "courses", s.course, "progress")
        ),
        422: ask("GET", lambda s: f"/v1/learners/a%20b/courses/{s.course}/progress"),
    },
    "learner_progress": {422: ask("GET", fixed("/v1/learners/ada/progress?limit=0"))},
    "course_roster": {
        400: ask("GET", course_url("progress"), params={"after": "not-a-cursor"}),
        422: ask("GET", course_url("progress"), params={"limit": 0}),
    },
    "list_courses": {422: ask("GET", fixed("/v1/courses?limit=0"))},
    "create_course": {
        409: lambda s: s.open.post("/v1/courses", json={"course_id": s.course}),
        422: ask("POST", fixed("/v1/courses"), json={"title": "no id"}),
    },
    "get_enrollment": {
        404: ask("GET", enrollment_url(NOBODY)),
        422: ask("GET", enrollment_url("not-a-uuid")),
    },
    "list_learner_enrollments": {422: ask("GET", fixed("/v1/learners/ada/enrollments?limit=0"))},
    "change_threshold": {
        404: ask("PATCH", fixed("/v1/courses/no-such-course"), json={"completion_threshold": 50}),
        422: ask("PATCH", course_url(), json={"completion_threshold": 500}),
    },
    "get_course": {
        404: ask("GET", fixed("/v1/courses/no-such-course")),
        422: ask("GET", fixed("/v1/courses/a%20b")),
    },
    "add_unit": {
        404: ask("POST", fixed("/v1/courses/no-such-course/units"), json={"unit_id": "u9"}),
        422: ask("POST", course_url("units"), json={"unit_id": "u1"}),  # there already
    },
    "change_unit": {
        404: ask("PATCH", course_url("units", "u9"), json={"title": "Nine"}),
        422: ask("PATCH", course_url("units", "u1"), json={"weight": 0}),
    },
    "remove_unit": {
        404: ask("DELETE", course_url("units", "u9")),
        422: ask("DELETE", lambda s: course_url("units")(s) + "/a%20b"),
    },
    "add_module": {
        404: ask("POST", course_url("units", "u9", "modules"), json={"module_id": "m9"}),
        422: ask("POST", course_url("units", "u1", "modules"), json={"module_id": "m1"}),
    },
    "remove_module": {
        404: ask("DELETE", course_url("units", "u1", "modules", "m9")),
        422: ask("DELETE", lambda s: course_url("units", "u1", "modules")(s) + "/a%20b"),
    },
    "change_module": {
        404: ask(
            "PATCH",
            course_url("units", "u1", "modules", "m9"),
            json={"activity_id": "https://lms.example.org/m9"},
        ),
        422: ask("PATCH", course_url("units", "u1", "modules", "m1"), json={"activity_id": "x"}),
    },
    "enroll": {
        404: ask("POST", fixed("/v1/enrollments"), json={"learner_id": "ada", "course_id": "no"}),
        422: ask("POST", fixed("/v1/enrollments"), json={"learner_id": "ada"}),
    },
    "complete_in_bulk": {422: ask("POST", fixed("/v1/completions:batch"), json={"not": "a list"})},
    "enrollment_history": {
        404: ask("GET", enrollment_url(NOBODY, "history")),
        422: ask("GET", enrollment_url("ada", "history"), params={"limit": 0}),
    },
    "start_rebuild": {
        409: ask("POST", fixed(REBUILDS), json={"rules": "required-units-v2"}),
        422: ask("POST", fixed(REBUILDS), json={"rules": "units-v9"}),
    },
    "get_rebuild": {
        404: ask("GET", fixed(f"{REBUILDS}/999")),
        422: ask("GET", fixed(f"{REBUILDS}/0")),
    },
    "cancel_rebuild": {
        404: ask("DELETE", fixed(f"{REBUILDS}/999")),
        409: ask("DELETE", fixed(f"{REBUILDS}/1")),  # the live one
        422: ask("DELETE", fixed(f"{REBUILDS}/0")),
    },
    "rebuild_diff": {
        404: ask("GET", fixed(f"{REBUILDS}/999/diff")),
        422: ask("GET", fixed(f"{REBUILDS}/0/diff")),
    },
    "export": {
        404: ask("GET", fixed("/v1/learners/nobody/export")),
        422: ask("GET", fixed("/v1/learners/a%20b/export")),
    },
    "erase": {
        404: ask("DELETE", fixed("/v1/learners/nobody")),
        422: ask("DELETE", fixed("/v1/learners/a%20b")),
    },
    "create": {422: ask("POST", fixed("/v1/webhooks"), json={"url": "ftp://x", "event_types": []})},
    "get": {
        404: ask("GET", fixed(f"/v1/webhooks/{NO_SUCH_WEBHOOK}")),
        422: ask("GET", fixed("/v1/webhooks/wh_x")),
    },
    "delete": {
        404: ask("DELETE", fixed(f"/v1/webhooks/{NO_SUCH_WEBHOOK}")),
        422: ask("DELETE", fixed("/v1/webhooks/wh_x")),
    },
    "deliveries": {
        404: ask("GET", fixed(f"/v1/webhooks/{NO_SUCH_WEBHOOK}/deliveries")),
        422: ask("GET", lambda s: f"/v1/webhooks/{s.webhook}/deliveries?limit=0"),
    },
    "delivery_attempts": {
        404: ask("GET", lambda s: f"/v1/webhooks/{s.webhook}/deliveries/999/attempts"),
        422: ask("GET", lambda s: f"/v1/webhooks/{s.webhook}/deliveries/0/attempts"),
    },
    "redeliver": {
        404: ask("POST", lambda s: f"/v1/webhooks/{s.webhook}/deliveries/999/redeliver"),
        422: ask("POST", lambda s: f"/v1/webhooks/{s.webhook}/deliveries/0/redeliver"),
    },
    "put_statement": {
        400: ask("PUT", fixed("/xapi/statements?statementId=x"), json={}, headers=XAPI),
        409: lambda s: s.open.put(
            "/xapi/statements",
            params={"statementId": s.statement["id"]},
            json=statement(s, result={"completion": False}),
            headers=XAPI,
        ),
    },
    "post_statements": {
        400: ask("POST", fixed("/xapi/statements"), json={"verb": "no"}, headers=XAPI),
        409: lambda s: s.open.post(
            "/xapi/statements", json=[statement(s, result={"completion": False})], headers=XAPI
        ),
    },
    "get_statement": {
        400: ask("GET", fixed("/xapi/statements"), headers=XAPI),  # neither id
        404: ask("GET", fixed(f"/xapi/statements?statementId={NOBODY}"), headers=XAPI),
    },
}
for change, target, body in (
    ("complete_module", "modules/m1/completion", {}),
    ("complete_unit", "units/u1/completion", {}),
    ("revoke_module", "modules/m1/completion", None),
    ("revoke_unit", "units/u1/completion", None),
    ("reset", "reset", {"reason": "once more"}),
    ("withdraw", "withdrawal", {}),
):
    method = "DELETE" if body is None else "POST"
    segments = target.split("/")
    OWN[change] = {
        404: ask(method, enrollment_url(NOBODY, *segments), json=body),
        422: ask(method, enrollment_url("not-a-uuid", *segments), json=body),
    }
    if change != "withdraw":  # withdrawing again changes nothing
        OWN[change][409] = ask(method, enrollment_url("bob", *segments), json=body)


def concrete(template: str, s: Servers) -> str:
    """The operation's path with ids that exist (or at least are valid) in every place."""
    values = {
        "learner_id": "ada",
        "course_id": s.course,
        "unit_id": "u1",
        "module_id": "m1",
        "enrollment_id": s.enrollment,
        "generation": "1",
        "webhook_id": s.webhook,
        "delivery_id": "1",
    }
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return path(*template.strip("/").split("/"))


def around(method: str, template: str) -> dict[int, Ask]:
    """What the layers around every route answer (api/access.py, api/guards.py,
    api/idempotency.py), asked of this operation."""

    def as_keyed(client: Callable[[Servers], httpx.Client]) -> Ask:
        return lambda s: client(s).request(method, concrete(template, s))

    def scope_refused(s: Servers) -> httpx.Response:
        """A key without the scope: the read key for a change, the write key for a read
        (either for what needs admin)."""
        answer = as_keyed(lambda s: s.read_key)(s)
        return answer if answer.status_code == 403 else as_keyed(lambda s: s.write_key)(s)

    def open_with(**kwargs: Any) -> Ask:
        return lambda s: s.open.request(method, concrete(template, s), **kwargs)

    asks = {401: as_keyed(lambda s: s.keyed), 403: scope_refused}
    asks[-403] = open_with(headers=FAR_CLIENT)  # 403 too, for a route that asks for no key
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        too_large = b"[" + b" " * BATCH_BODY_LIMIT + b"]"
        asks[413] = open_with(content=too_large, headers={"Content-Type": "application/json"})
        asks[415] = open_with(content=b"x", headers={"Content-Type": "text/plain"})
    if method == "POST":
        asks[422] = open_with(headers={"Idempotency-Key": "not printable"})  # a space
    return asks


# Statuses an operation does not declare, and a request one might expect to give them.
UNDECLARED: list[tuple[str, int, Ask, int]] = [
    ("course_roster", 404, ask("GET", fixed("/v1/courses/no-such-course/progress")), 200),
    ("learner_progress", 404, ask("GET", fixed("/v1/learners/nobody/progress")), 200),
    ("list_learner_enrollments", 404, ask("GET", fixed("/v1/learners/nobody/enrollments")), 200),
    (
        "enroll",
        409,
        lambda s: s.open.post("/v1/enrollments", json={"learner_id": "ada", "course_id": s.course}),
        200,
    ),
    ("withdraw", 409, ask("POST", enrollment_url("bob", "withdrawal")), 200),
    (
        "complete_in_bulk",
        404,
        ask(
            "POST",
            fixed("/v1/completions:batch"),
            json=[{"learner_id": "ada", "course_id": "no", "unit_id": "u1"}],
        ),
        200,
    ),
    (
        "create_course",
        404,
        lambda s: s.open.post(
            "/v1/courses",
            json={
                "course_id": new_id("linked"),
                "activity_id": "https://lms.example.org/linked",
                "units": [{"unit_id": "u1", "activity_id": "https://lms.example.org/linked/u1"}],
            },
        ),
        201,
    ),
    ("put_statement", 422, ask("PUT", fixed("/xapi/statements"), json={}, headers=XAPI), 400),
    (
        "get_statement",
        422,
        ask("GET", fixed("/xapi/statements?statementId=a%20b"), headers=XAPI),
        400,
    ),
    ("healthz", 403, ask("GET", fixed("/healthz"), headers=FAR_CLIENT), 200),
    ("readyz", 403, ask("GET", fixed("/readyz"), headers=FAR_CLIENT), 200),
    ("healthz", 401, lambda s: s.keyed.get("/healthz"), 200),
    ("readyz", 401, lambda s: s.keyed.get("/readyz"), 200),
    ("about", 401, lambda s: s.keyed.get("/xapi/about"), 200),
    ("metrics", 503, ask("GET", fixed("/metrics")), 200),
]


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, str, list[int]]]:
    for template, by_method in document["paths"].items():
        for method, operation in by_method.items():
            declared = [int(s) for s in operation["responses"] if s.startswith(("4", "5"))]
            yield operation["operationId"], method.upper(), template, declared


def refused_as(answer: httpx.Response, status: int) -> bool:
    return answer.status_code == status and answer.headers.get("content-type", "").startswith(
        PROBLEM_JSON
    )


@pytest.fixture
def servers(settings: Settings, tmp_path: Path) -> Iterator[Servers]:
    limits = {
        "LEDGER_MAX_BODY_BYTES": str(BODY_LIMIT),
        "LEDGER_MAX_BATCH_BODY_BYTES": str(BATCH_BODY_LIMIT),
        "LEDGER_DELIVER_WEBHOOKS": "false",
    }
    read_key, read_line = new_key("reader", {"read"})
    write_key, write_line = new_key("writer", {"write"})
    keys = {"LEDGER_API_KEYS": f"{read_line};{write_line}"}
    with (
        Server(settings, tmp_path / "open.log", extra_env=limits) as open_server,
        Server(settings, tmp_path / "keyed.log", extra_env={**limits, **keys}) as keyed_server,
    ):

        def client(url: str, key: str | None = None) -> httpx.Client:
            headers = {} if key is None else {"Authorization": f"Bearer {key}"}
            return httpx.Client(base_url=url, timeout=DEADLINE, headers=headers)

        with (
            client(open_server.url) as open_client,
            client(keyed_server.url) as keyed,
            client(keyed_server.url, read_key) as reader,
            client(keyed_server.url, write_key) as writer,
        ):
            yield world(settings, Clients(open_client, keyed, reader, writer))


def world(settings: Settings, clients: Clients) -> Servers:
    """A course, an active and a withdrawn enrollment, a webhook, a statement; and a rebuild
    left building (as a `progress-ledger` process that died would leave it)."""
    c = clients.open
    course = new_id("course")
    units = [
        {"unit_id": "u1", "modules": [{"module_id": "m1"}, {"module_id": "m2"}]},
        {"unit_id": "u2"},
    ]
    assert c.post("/v1/courses", json={"course_id": course, "units": units}).status_code == 201
    enrolled = [
        c.post("/v1/enrollments", json={"learner_id": learner, "course_id": course}).json()
        for learner in ("ada", "bob")
    ]
    withdrawn = enrolled[1]["enrollment_id"]
    assert c.post(f"/v1/enrollments/{withdrawn}/withdrawal").status_code == 200
    hook = {"url": "http://127.0.0.1:9/hook", "event_types": ["unit.completed"]}
    webhook = c.post("/v1/webhooks", json=hook).json()["id"]
    sent = {
        "id": str(uuid.uuid4()),
        "actor": {
            "objectType": "Agent",
            "account": {"homePage": "https://lms.example.org", "name": "cy"},
        },
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"objectType": "Activity", "id": "https://lms.example.org/unlinked"},
        "result": {"completion": True},
    }
    assert c.post("/xapi/statements", json=sent, headers=XAPI).status_code == 200
    services = bootstrap(settings)
    try:
        services.generations.create("weighted-v1")
    finally:
        services.close()
    return Servers(
        **vars(clients),
        course=course,
        enrollment=enrolled[0]["enrollment_id"],
        withdrawn=withdrawn,
        webhook=webhook,
        statement=sent,
    )


def test_every_declared_error_status_happens_and_no_other(servers: Servers) -> None:
    document = servers.open.get("/openapi.json").json()
    wrong: list[str] = []
    for name, method, template, declared in operations(document):
        asks = {**around(method, template), **OWN.get(name, {})}
        for status in sorted(set(declared) - {503}):
            demonstrations = [asks[s] for s in (status, -status) if s in asks]
            assert demonstrations, f"{name}: nothing here asks for its {status}"
            answers = [demonstrate(servers) for demonstrate in demonstrations]
            if not any(refused_as(answer, status) for answer in answers):
                got = [(a.status_code, a.text[:200]) for a in answers]
                wrong.append(f"{method} {template} declares {status}, answered {got}")
        own = set(OWN.get(name, {}))
        assert own <= set(declared), f"{name} answers {own - set(declared)} undeclared"
    assert not wrong, "\n".join(wrong)


def test_what_an_operation_does_not_declare_does_not_happen(servers: Servers) -> None:
    document = servers.open.get("/openapi.json").json()
    declared = {name: set(statuses) for name, _, _, statuses in operations(document)}
    for name, status, request, expected in UNDECLARED:
        assert status not in declared[name], (name, status)
        answer = request(servers)
        assert answer.status_code == expected, (name, answer.text)
