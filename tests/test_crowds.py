"""Many clients at once through a real server: every completion recorded exactly once, and
racing enrolls make one enrollment."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from uuid import UUID

import httpx

from bootstrap import Settings, bootstrap
from tests.factories import new_id
from tests.http_helpers import head

CLIENTS = 64
T = TypeVar("T")


def at_once(task: Callable[[int], T]) -> list[T]:
    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(task, range(CLIENTS)))


def enrollment_facts(settings: Settings, enrollment_id: str) -> tuple[int, set[str]]:
    services = bootstrap(settings)
    try:
        enrollment = services.ledger.get_enrollment(UUID(enrollment_id))
        return enrollment.version, set(enrollment.completed_units)
    finally:
        services.close()


def test_64_clients_completing_different_units_are_all_recorded_once(
    client: httpx.Client, settings: Settings
) -> None:
    course = new_id("course")
    units = [{"unit_id": f"u{n}"} for n in range(CLIENTS)]
    assert client.post("/v1/courses", json={"course_id": course, "units": units}).status_code == 201
    enrolled = client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": course})
    enrollment_id = enrolled.json()["enrollment_id"]
    start = head(client)

    def complete(n: int) -> httpx.Response:
        return client.post(f"/v1/enrollments/{enrollment_id}/units/u{n}/completion", json={})

    answers = at_once(complete)
    assert [a.status_code for a in answers] == [200] * CLIENTS, [a.text for a in answers]
    assert all(a.json()["appended"] == ["UnitCompleted"] for a in answers)
    assert head(client) == start + CLIENTS
    version, completed = enrollment_facts(settings, enrollment_id)
    assert completed == {f"u{n}" for n in range(CLIENTS)}
    assert version == CLIENTS + 1

    progress = client.get(
        f"/v1/learners/ada/courses/{course}/progress", params={"min_position": head(client)}
    )
    assert (progress.json()["completed_units"], progress.json()["percentage"]) == (CLIENTS, 100.0)


def test_64_clients_sending_the_same_completion_make_one_event(
    client: httpx.Client, settings: Settings
) -> None:
    course = new_id("course")
    assert client.post("/v1/courses", json={"course_id": course, "units": [{"unit_id": "u1"}]})
    enrolled = client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": course})
    enrollment_id = enrolled.json()["enrollment_id"]
    start = head(client)

    answers = at_once(
        lambda _: client.post(f"/v1/enrollments/{enrollment_id}/units/u1/completion", json={})
    )
    assert {a.status_code for a in answers} == {200}
    appended = [a.json()["appended"] for a in answers]
    assert appended.count(["UnitCompleted"]) == 1
    assert appended.count([]) == CLIENTS - 1
    assert head(client) == start + 1
    assert enrollment_facts(settings, enrollment_id) == (2, {"u1"})


def test_racing_enrolls_make_one_enrollment(client: httpx.Client, settings: Settings) -> None:
    course = new_id("course")
    assert client.post("/v1/courses", json={"course_id": course, "units": [{"unit_id": "u1"}]})
    start = head(client)

    answers = at_once(
        lambda _: client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": course})
    )
    assert sorted(a.status_code for a in answers) == [200] * (CLIENTS - 1) + [201]
    enrollment_ids = {a.json()["enrollment_id"] for a in answers}
    assert len(enrollment_ids) == 1
    assert head(client) == start + 1
    assert enrollment_facts(settings, enrollment_ids.pop()) == (1, set())
