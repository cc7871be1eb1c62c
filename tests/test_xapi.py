"""The xAPI intake through a real server, driven by a real xAPI client (Open edX's fork of
TinCanPython) and by plain HTTP: statements complete linked units and modules, a voiding
revokes, an unknown activity changes nothing but is counted, and refusals keep nothing."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tincan import RemoteLRS
from tincan import Statement as TinCanStatement

from api.access import new_key
from bootstrap import Settings
from tests.conftest import Server
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.http_helpers import assert_problem, call, course_body, head, path, progress, unit_numbers
from tests.xapi_samples import open_edx_block_finished, statement, voiding

V1 = {"X-Experience-API-Version": "1.0.3"}
V2 = {"X-Experience-API-Version": "2.0.0"}


class Lrs:
    """A running server with a write key and an admin key, as an LMS would configure it."""

    def __init__(self, server: Server, write_key: str, admin_key: str) -> None:
        self.server = server
        self.write_key = write_key
        basic = base64.b64encode(f"moodle:{write_key}".encode()).decode()
        self.http = httpx.Client(
            base_url=server.url, timeout=DEADLINE, headers={"Authorization": f"Basic {basic}"}
        )
        self.admin = httpx.Client(
            base_url=server.url, timeout=DEADLINE, headers={"Authorization": f"Bearer {admin_key}"}
        )

    def tincan(self, version: str = "1.0.1") -> RemoteLRS:
        return RemoteLRS(
            endpoint=f"{self.server.url}/xapi/",
            username="openedx",
            password=self.write_key,
            version=version,
        )

    def post(self, body: Any, headers: dict[str, str] = V1) -> httpx.Response:
        return self.http.post("/xapi/statements", json=body, headers=headers)

    def get(self, **params: str) -> httpx.Response:
        return self.http.get("/xapi/statements", params=params, headers=V1)


@pytest.fixture
def lrs(settings: Settings, tmp_path: Path) -> Iterator[Lrs]:
    write_key, write_line = new_key("lms", {"read", "write"})
    admin_key, admin_line = new_key("operator", {"read", "write", "admin"})
    env = {"LEDGER_API_KEYS": f"{write_line};{admin_line}", "LEDGER_XAPI_ENROLL": "true"}
    with Server(settings, tmp_path / "server.log", env) as server:
        running = Lrs(server, write_key, admin_key)
        yield running
        running.http.close()
        running.admin.close()


def linked_course(lrs: Lrs) -> tuple[str, str]:
    """A course whose unit u2 is linked at creation, u4 and module m1 by PATCH."""
    course = new_id("course")
    base = f"https://lms.example.org/{course}/"
    body = course_body(course)
    body["units"][1]["activity_id"] = base + "u2"  # type: ignore[index]
    call(lrs.admin, "POST", "/v1/courses", body, expect=201)
    unit4 = path("v1", "courses", course, "units", "u4")
    call(lrs.admin, "PATCH", unit4, {"activity_id": base + "u4"})
    module1 = path("v1", "courses", course, "units", "u1", "modules", "m1")
    call(lrs.admin, "PATCH", module1, {"activity_id": base + "m1"})
    return course, base


def test_statements_complete_what_their_activity_is_linked_to_and_voiding_revokes(
    lrs: Lrs,
) -> None:
    course, base = linked_course(lrs)
    learner = new_id("learner")
    # Open edX's finished block, through the real client with Basic auth.
    finished = open_edx_block_finished(learner, base + "m1")
    answer = lrs.tincan().save_statement(TinCanStatement(finished))
    assert answer.success, answer.data
    passed = statement(learner, "passed", base + "u4")
    started = statement(learner, "progressed", base + "u2", completion=False)
    response = lrs.post([passed, started])
    assert response.status_code == 200, response.text
    assert response.json() == [passed["id"], started["id"]]
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    units = unit_numbers(progress(lrs.admin, learner, course, head(lrs.admin)))
    assert units["u1"][:2] == (False, 1)  # m1 of m1, m2
    assert units["u4"][0] is True
    assert units["u2"][0] is False  # progressed without completion counts for nothing

    # What was stored: id, stored, authority (the key's name), version; fetched by id.
    stored = lrs.get(statementId=passed["id"])
    assert stored.status_code == 200, stored.text
    kept = stored.json()
    assert kept["actor"] == passed["actor"] and kept["verb"] == passed["verb"]
    assert kept["authority"]["account"]["name"] == "lms"
    assert kept["stored"] and kept["version"] == "1.0.0"
    fetched = lrs.tincan().retrieve_statement(finished["id"])
    assert fetched.success and str(fetched.content.id) == finished["id"]

    # The history of the enrollment names the statement that did each completion.
    enrollment = progress(lrs.admin, learner, course, head(lrs.admin))["enrollment_id"]
    history = call(lrs.admin, "GET", path("v1", "enrollments", enrollment, "history"))
    reasons = {event["type"]: event["reason"] for event in history["events"]}
    assert reasons["UnitCompleted"] == f"xAPI statement {passed['id']}"

    # Voiding the passed statement revokes u4; the voided one is found only as voided.
    void = lrs.post(voiding(learner, passed["id"]), headers=V2)
    assert void.status_code == 200, void.text
    assert void.headers["X-Experience-API-Version"] == "2.0.0"
    units = unit_numbers(progress(lrs.admin, learner, course, head(lrs.admin)))
    assert units["u4"][0] is False
    assert_problem(lrs.get(statementId=passed["id"]), 404, "statementId")
    assert lrs.get(voidedStatementId=passed["id"]).json()["id"] == passed["id"]

    # The same statement again: no new effect (u4 stays revoked); other content: 409.
    position = head(lrs.admin)
    again = lrs.http.put(
        "/xapi/statements", params={"statementId": passed["id"]}, json=passed, headers=V1
    )
    assert again.status_code == 204, again.text
    assert head(lrs.admin) == position
    changed = {**passed, "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"}}
    conflict = lrs.http.put(
        "/xapi/statements", params={"statementId": passed["id"]}, json=changed, headers=V1
    )
    assert_problem(conflict, 409, "id")
    assert conflict.headers["X-Experience-API-Version"] == "1.0.3"


def test_unknown_activities_are_kept_change_nothing_and_are_counted(lrs: Lrs) -> None:
    course, _base = linked_course(lrs)
    learner = new_id("learner")
    unknown = f"https://lms.example.org/unlinked/{uuid.uuid4().hex}"
    sent = [statement(learner, "completed", unknown) for _ in range(3)]
    response = lrs.post(sent)
    assert response.status_code == 200, response.text
    assert lrs.get(statementId=sent[0]["id"]).status_code == 200
    counts = call(lrs.admin, "GET", "/v1/xapi/unmatched")
    assert counts["activities"][unknown] == 3
    missing = lrs.admin.get(path("v1", "learners", learner, "courses", course, "progress"))
    assert missing.status_code == 404, missing.text
    assert call(lrs.http, "GET", "/xapi/about")["version"] == ["1.0.3", "2.0.0"]


BAD_STATEMENTS: list[tuple[str, Any, str]] = [
    ("no verb", {"verb": None}, "statements[1].verb"),
    (
        "two identifiers",
        {"actor": {"mbox": "mailto:a@b.org", "openid": "https://id.org/a"}},
        "statements[1].actor",
    ),
    ("bad mailto", {"actor": {"mbox": "a@b.org"}}, "statements[1].actor.mbox"),
    ("not an IRI", {"object": {"id": "not an iri"}}, "statements[1].object.id"),
    ("bad id", {"id": "1234"}, "statements[1].id"),
    ("unknown property", {"colour": "blue"}, "statements[1].colour"),
    (
        "bad language",
        {"verb": {"id": "http://x.org/v", "display": {"not a tag!": "x"}}},
        "statements[1].verb.display.not a tag!",
    ),
    (
        "score out of range",
        {"result": {"score": {"scaled": 1.5}}},
        "statements[1].result.score.scaled",
    ),
    (
        "raw above max",
        {"result": {"score": {"raw": 11, "min": 0, "max": 10}}},
        "statements[1].result.score.raw",
    ),
    (
        "extension key",
        {"result": {"extensions": {"progress": 1}}},
        "statements[1].result.extensions.progress",
    ),
    ("no offset", {"timestamp": "2024-05-01T10:00:00"}, "statements[1].timestamp"),
    ("before the epoch", {"timestamp": "1969-12-31T23:59:59Z"}, "statements[1].timestamp"),
    ("far future", {"timestamp": "2999-01-01T00:00:00Z"}, "statements[1].timestamp"),
]


def test_a_batch_with_one_bad_statement_keeps_nothing(lrs: Lrs) -> None:
    _course, base = linked_course(lrs)
    learner = new_id("learner")
    position = head(lrs.admin)
    for name, change, field in BAD_STATEMENTS:
        good = statement(learner, "completed", base + "u2")
        bad = statement(learner, "completed", base + "u4")
        for key, value in change.items():
            if value is None:
                del bad[key]
            elif isinstance(value, dict) and key == "actor":
                bad["actor"] = {"objectType": "Agent", **value}
            else:
                bad[key] = value
        response = lrs.post([good, bad])
        assert_problem(response, 400, field)
        assert lrs.get(statementId=good["id"]).status_code == 404, name
    assert head(lrs.admin) == position
    # No version header; Bearer works as well as Basic; no key at all is refused.
    ok = statement(learner, "completed", base + "u2")
    assert_problem(lrs.post(ok, headers={}), 400, "X-Experience-API-Version")
    refused = httpx.post(f"{lrs.server.url}/xapi/statements", json=ok, headers=V1)
    assert_problem(refused, 401, "Authorization")
    bearer = {**V1, "Authorization": f"Bearer {lrs.write_key}"}
    assert (
        httpx.post(f"{lrs.server.url}/xapi/statements", json=ok, headers=bearer).status_code == 200
    )
    # A batch whose one statement conflicts with a stored one is refused whole.
    fresh = statement(learner, "completed", base + "u4")
    conflicting = {**ok, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}}
    position = head(lrs.admin)
    assert_problem(lrs.post([fresh, conflicting]), 409, "id")
    assert lrs.get(statementId=fresh["id"]).status_code == 404
    assert head(lrs.admin) == position


def test_erasing_a_statements_actor_leaves_nothing_that_names_them(
    lrs: Lrs, settings: Settings
) -> None:
    from tests.test_erasure import database_bytes, found_in, traces_of

    course, base = linked_course(lrs)
    learner = f"Ada.Lovelace+{uuid.uuid4().hex[:6]}@Example.org"
    sent = statement(learner, "completed", base + "u2")
    sent["actor"]["name"] = f"Ada Lovelace {learner}"
    sent["context"] = {"instructor": {"mbox": f"mailto:{learner}"}}
    unknown = statement(learner, "completed", "https://lms.example.org/nowhere")
    assert lrs.post([sent, unknown]).status_code == 200
    assert progress(lrs.admin, learner, course, head(lrs.admin))["completed_units"] == 1
    exported = call(lrs.admin, "GET", path("v1", "learners", learner, "export"))
    assert {s["id"] for s in exported["xapi_statements"]} == {sent["id"], unknown["id"]}
    call(lrs.admin, "DELETE", path("v1", "learners", learner))
    assert lrs.get(statementId=sent["id"]).status_code == 404
    assert found_in(database_bytes(settings), traces_of(learner, [course])) == []
    assert json.dumps(traces_of(learner, [])) and learner.lower().encode() not in (
        database_bytes(settings).lower()
    )
