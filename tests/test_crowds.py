"""Many clients at once through a real server: every completion recorded exactly once, and
racing enrolls make one enrollment. The tests make their own courses (new ids), so they
share one server per database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from uuid import UUID

import httpx
import pytest

from bootstrap import Settings, bootstrap
from tests.conftest import POSTGRES_URL, Server, drop_schema
from tests.deadlines import DEADLINE
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


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def crowd_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("crowds") / "ledger.sqlite3"
        yield Settings(database_url=f"sqlite:///{path}")
        return
    if not POSTGRES_URL:
        pytest.skip("LEDGER_TEST_DATABASE_URL is not set")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield Settings(database_url=POSTGRES_URL, database_schema=schema)
    drop_schema(schema)


@pytest.fixture(scope="module")
def crowd_client(
    crowd_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("crowds-server") / "server.log"
    with (
        Server(crowd_settings, log) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as http,
    ):
        yield http


def test_64_clients_completing_different_units_are_all_recorded_once(
    crowd_client: httpx.Client, crowd_settings: Settings
) -> None:
    client, settings = crowd_client, crowd_settings
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
    crowd_client: httpx.Client, crowd_settings: Settings
) -> None:
    client, settings = crowd_client, crowd_settings
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


def test_racing_enrolls_make_one_enrollment(
    crowd_client: httpx.Client, crowd_settings: Settings
) -> None:
    client, settings = crowd_client, crowd_settings
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
