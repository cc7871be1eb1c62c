"""xAPI intake beside bulk ingest: POSTs of 1,000 statements that complete the same kinds of
things the batch endpoint's items do (two modules and seven units a learner and course),
through activities linked to those units and modules (bench/web.py times them in turn with
the bulk requests)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson

HOME = "https://bench.example.org"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
STATEMENTS_PER_REQUEST = 1_000


def activity(course_id: str, thing: str) -> str:
    return f"{HOME}/{course_id}/{thing}"


def link_activities(client: httpx.Client, courses: list[str]) -> None:
    """Units u1..u7 and the modules of u0, in every course, as the bodies use them."""
    for course_id in courses:
        base = f"/v1/courses/{course_id}/units"
        for unit in range(1, 8):
            unit_id = f"{course_id}-u{unit}"
            body = {"activity_id": activity(course_id, unit_id)}
            client.patch(f"{base}/{unit_id}", json=body).raise_for_status()
        for module_id in (f"{course_id}-u0-a", f"{course_id}-u0-b"):
            body = {"activity_id": activity(course_id, module_id)}
            client.patch(f"{base}/{course_id}-u0/modules/{module_id}", json=body).raise_for_status()


def statement(learner: str, activity_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": learner}},
        "verb": {"id": COMPLETED, "display": {"en-US": "completed"}},
        "object": {"objectType": "Activity", "id": activity_id},
        "timestamp": "2024-05-01T10:00:00Z",
    }


def xapi_bodies(courses: list[str], requests: int) -> list[bytes]:
    statements: list[dict[str, Any]] = []
    learner = 0
    while len(statements) < requests * STATEMENTS_PER_REQUEST:
        for course_id in courses:
            who = f"xapi-learner-{learner}"
            things = [f"{course_id}-u0-a", f"{course_id}-u0-b"]
            things += [f"{course_id}-u{unit}" for unit in range(1, 8)]
            statements.extend(statement(who, activity(course_id, thing)) for thing in things)
        learner += 1
    size = STATEMENTS_PER_REQUEST
    return [orjson.dumps(statements[at : at + size]) for at in range(0, requests * size, size)]


HEADERS = {"Content-Type": "application/json", "X-Experience-API-Version": "1.0.3"}


def post_statements(client: httpx.Client, body: bytes) -> None:
    client.post("/xapi/statements", content=body, headers=HEADERS).raise_for_status()
