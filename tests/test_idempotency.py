"""Idempotency-Key through a real server: a repeat answers the first answer without appending,
another body under the same key is 422, and keys survive a restart (they are in the database,
written in the events' transaction)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import uvicorn
from eventsourcing.domain import Aggregate

from api.main import create_app
from bootstrap import LedgerServices, Settings, bootstrap
from domain.commands import Aggregates
from domain.errors import LedgerError
from eventstore.idempotency_keys import TABLE
from ledger.committer import Submission
from tests.conftest import Server, free_port
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.http_helpers import assert_problem, course_body, head
from tests.processes import wait_until


def key(name: str) -> dict[str, str]:
    return {"Idempotency-Key": new_id(name)}


def test_a_repeated_request_answers_again_without_appending(
    settings: Settings, tmp_path: Path
) -> None:
    server = Server(settings, tmp_path / "first.log")
    course = new_id("course")
    with server, httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
        created_key = key("create")
        created = client.post("/v1/courses", json=course_body(course), headers=created_key)
        again = client.post("/v1/courses", json=course_body(course), headers=created_key)
        assert (created.status_code, again.status_code) == (201, 201)
        assert again.json() == created.json()
        assert again.headers["idempotent-replayed"] == "true"

        enroll_key = key("enroll")
        enrollment = {"learner_id": "ada", "course_id": course}
        enrolled = client.post("/v1/enrollments", json=enrollment, headers=enroll_key)
        assert enrolled.status_code == 201
        completion = f"/v1/enrollments/{enrolled.json()['enrollment_id']}/units/u2/completion"
        done_key = key("done")
        done = client.post(completion, json={}, headers=done_key)
        assert done.json()["appended"] == ["UnitCompleted"]
        start = head(client)
        assert client.post(completion, json={}, headers=done_key).json() == done.json()

        other = client.post(
            completion, json={"occurred_at": "2024-01-01T00:00:00Z"}, headers=done_key
        )
        assert_problem(other, 422, "Idempotency-Key")
        elsewhere = client.post(completion.replace("u2", "u4"), json={}, headers=done_key)
        assert_problem(elsewhere, 422, "Idempotency-Key")

        # A command that appends nothing is remembered too.
        nothing_key = key("nothing")
        nothing = client.post(completion, json={}, headers=nothing_key)
        assert nothing.json()["appended"] == []
        assert client.post(completion, json={}, headers=nothing_key).json() == nothing.json()
        # Refusals are not remembered: the same key may be used once the request is right.
        missing = f"/v1/enrollments/{enrolled.json()['enrollment_id']}/units/nope/completion"
        retry_key = key("retry")
        assert_problem(client.post(missing, json={}, headers=retry_key), 404)
        assert head(client) == start
        fixed = client.post(completion.replace("u2", "u4"), json={}, headers=retry_key)
        assert fixed.json()["appended"] == ["UnitCompleted"]
        start += 1

    restarted = Server(settings, tmp_path / "second.log")
    with restarted, httpx.Client(base_url=restarted.url, timeout=DEADLINE) as client:
        replayed = client.post(completion, json={}, headers=done_key)
        assert replayed.json() == done.json()
        assert (
            client.post("/v1/enrollments", json=enrollment, headers=enroll_key).status_code == 201
        )
        assert_problem(client.post(completion, json={"x": 1}, headers=done_key), 422)
        assert head(client) == start


def test_concurrent_requests_with_one_key_append_once(client: httpx.Client) -> None:
    course = new_id("course")
    assert client.post("/v1/courses", json=course_body(course)).status_code == 201
    enrolled = client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": course})
    enrollment_id = enrolled.json()["enrollment_id"]
    start = head(client)
    same_key = key("same")

    def complete(_: int) -> httpx.Response:
        return client.post(
            f"/v1/enrollments/{enrollment_id}/modules/m1/completion", json={}, headers=same_key
        )

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(complete, range(16)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert answers[0].json()["appended"] == ["ModuleCompleted"]
    assert head(client) == start + 1


@pytest.mark.slow  # waits out the in-flight grace period (5 s)
def test_a_retry_after_a_lost_answer_is_not_counted_twice(
    client: httpx.Client, settings: Settings
) -> None:
    course = new_id("course")
    assert client.post("/v1/courses", json=course_body(course)).status_code == 201
    enrolled = client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": course})
    completion = f"/v1/enrollments/{enrolled.json()['enrollment_id']}/units/u4/completion"
    lost_key = key("lost")
    assert client.post(completion, json={}, headers=lost_key).json()["appended"]
    start = head(client)
    # As if the server died after the events committed but before it stored its answer.
    services = bootstrap(settings)
    try:
        with services.db.transaction() as cursor:
            cursor.execute(f"UPDATE {services.db.table(TABLE)} SET status = NULL, body = NULL")
    finally:
        services.close()

    retried = client.post(completion, json={}, headers=lost_key)
    assert retried.status_code == 200
    assert retried.json()["appended"] == []  # the completion was already recorded
    assert head(client) == start
    assert client.post(completion, json={}, headers=lost_key).json() == retried.json()


@contextmanager
def serving_here(settings: Settings) -> Iterator[tuple[str, LedgerServices]]:
    """A real uvicorn server on a thread of this process: the test can read its committer.
    (uvicorn leaves logging alone; the collector the app tunes at start is put back.)"""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_config=None)
    )
    thresholds = gc.get_threshold()
    thread = threading.Thread(target=server.run, name="uvicorn")
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), 30, "the server to start")
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}", app.state.services
    finally:
        server.should_exit = True
        thread.join(timeout=DEADLINE)
        gc.unfreeze()
        gc.set_threshold(*thresholds)


class Gate:
    """A command that keeps the committer busy until opened, then is refused: whatever
    arrives meanwhile waits for the next batch. (Holding the database's write lock instead
    would also hold up the Idempotency-Key lookups on SQLite: the library's connection pool
    lets no reader in while its writer waits.)"""

    aggregate_ids: tuple[UUID, ...] = ()

    def __init__(self) -> None:
        self.opened = threading.Event()

    def decide(self, aggregates: Aggregates) -> Aggregate:
        self.opened.wait(timeout=DEADLINE)
        raise LedgerError("the gate refuses everything")


def test_keyed_commands_committed_together_each_keep_their_key(settings: Settings) -> None:
    """Concurrent commands share one insert (group commit: everything that arrives while
    the committer is busy goes in its next insert); every key goes with its own command, so
    each repeat answers its first answer and appends nothing."""
    course = new_id("course")
    learners = [new_id("learner") for _ in range(24)]
    keys = [key(f"enroll-{n}") for n in range(len(learners))]
    with (
        serving_here(settings) as (url, services),
        httpx.Client(base_url=url, timeout=DEADLINE) as client,
    ):
        assert client.post("/v1/courses", json=course_body(course)).status_code == 201
        committer = services.ledger.committer

        def enroll(n: int) -> httpx.Response:
            body = {"learner_id": learners[n], "course_id": course}
            return client.post("/v1/enrollments", json=body, headers=keys[n])

        before = committer.inserts
        gate = Gate()
        committer.submit(Submission([gate]))
        with ThreadPoolExecutor(len(learners)) as pool:
            answers = [pool.submit(enroll, n) for n in range(len(learners))]
            wait_until(
                lambda: committer.unsettled == len(learners) + 1, 30, "every request to arrive"
            )
            gate.opened.set()
            first = [answer.result() for answer in answers]
        assert [r.status_code for r in first] == [201] * len(learners)
        assert committer.inserts - before == 1
        start = head(client)
        with ThreadPoolExecutor(len(learners)) as pool:
            repeats = list(pool.map(enroll, range(len(learners))))
        assert [r.json() for r in repeats] == [r.json() for r in first]
        assert all(r.headers["idempotent-replayed"] == "true" for r in repeats)
        assert head(client) == start


def race(
    client: httpx.Client, racers: int, url: str, body: object, headers: dict[str, str]
) -> list[httpx.Response]:
    """`racers` identical POSTs, let go together."""
    ready = threading.Barrier(racers)

    def send(_: int) -> httpx.Response:
        ready.wait(timeout=DEADLINE)
        return client.post(url, json=body, headers=headers)

    with ThreadPoolExecutor(racers) as pool:
        return list(pool.map(send, range(racers)))


def test_identical_keyed_course_commands_racing_have_one_effect_and_one_answer(
    client: httpx.Client,
) -> None:
    """Twenty identical keyed requests at once, for each course command: the ones after the
    first would be refused by the course (it exists, the unit or module is there), yet each
    answers what the first answered, because its key was taken. Three rounds, as a lost race
    shows in only some of them."""
    racers = 20
    for round_ in range(3):
        course = new_id("course")
        start = head(client)
        keys = {name: key(f"{name}-{round_}") for name in ("create", "unit", "module")}
        sends = {
            "create": ("/v1/courses", course_body(course)),
            "unit": (f"/v1/courses/{course}/units", {"unit_id": "u9", "title": "Late"}),
            "module": (f"/v1/courses/{course}/units/u9/modules", {"module_id": "m9"}),
        }
        for name, (url, body) in sends.items():
            answers = race(client, racers, url, body, keys[name])
            assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
            assert len({a.text for a in answers}) == 1
        assert head(client) == start + 3
