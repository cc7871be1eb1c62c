"""Commands at the same moment, on both databases: none is lost, none is doubled, and a
projector reading while writers append skips nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from bootstrap import LedgerServices
from domain.course import Module, Unit
from projections.engine import ProjectionEngine
from tests.conftest import Server
from tests.deadlines import DEADLINE
from tests.factories import four_unit_course
from tests.http_helpers import call, numbers, path, progress, unit_numbers
from tests.oracle_checks import assert_engine_agrees_with_oracle
from tests.test_projection import numbers as projection_numbers
from tests.test_projection import table_rows

T = TypeVar("T")


def all_at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Runs `work(0..count-1)` on `count` threads released together by a barrier."""
    start = threading.Barrier(count)

    def run(index: int) -> T:
        start.wait(timeout=DEADLINE)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def post(server: Server, url: str, body: Any = None) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as http:
        return http.post(url, json=body)


def test_simultaneous_completions_on_one_enrollment_all_land(
    server: Server, client: httpx.Client
) -> None:
    modules = [f"u{n}-{part}" for n in range(6) for part in "ab"]
    units = [
        {"unit_id": f"u{n}", "modules": [{"module_id": f"u{n}-a"}, {"module_id": f"u{n}-b"}]}
        for n in range(6)
    ]
    call(client, "POST", "/v1/courses", {"course_id": "c1", "units": units}, expect=201)
    body = {"learner_id": "ada", "course_id": "c1"}
    enrollment = call(client, "POST", "/v1/enrollments", body, expect=201)["enrollment_id"]

    responses = all_at_once(
        len(modules),
        lambda n: post(
            server, path("v1", "enrollments", enrollment, "modules", modules[n], "completion")
        ),
    )

    assert [r.status_code for r in responses] == [200] * len(modules)
    answers = [r.json() for r in responses]
    assert all(answer["appended"][0] == "ModuleCompleted" for answer in answers)
    # Each unit's two modules raced; exactly one of the two saves completed the unit.
    unit_completions = [a for a in answers if a["appended"] == ["ModuleCompleted", "UnitCompleted"]]
    assert len(unit_completions) == len(units)
    read = progress(client, "ada", "c1", max(a["position"] for a in answers))
    assert numbers(read) == (6, 6, 100.0)
    assert set(unit_numbers(read).values()) == {(True, 2, 2, 100.0)}


def test_simultaneous_enrolls_make_one_enrollment(server: Server, client: httpx.Client) -> None:
    call(
        client, "POST", "/v1/courses", {"course_id": "c1", "units": [{"unit_id": "u1"}]}, expect=201
    )
    body = {"learner_id": "ada", "course_id": "c1"}

    responses = all_at_once(8, lambda _: post(server, "/v1/enrollments", body))

    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["enrollment_id"] for r in responses}) == 1
    roster = call(
        client,
        "GET",
        path("v1", "courses", "c1", "progress"),
        params={"min_position": max(r.json()["position"] for r in responses)},
    )
    assert [item["learner_id"] for item in roster["items"]] == ["ada"]
    assert roster["summary"]["enrolled"] == 1


def test_a_projector_reading_while_writers_append_skips_nothing(
    services: LedgerServices,
) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    writers, learners_each = 4, 12
    # Small batches, so the projector reads many times while the writers are appending.
    projector = ProjectionEngine(ledger.recorder, ledger.mapper, services.generations, batch_size=5)
    writing = threading.Event()
    writing.set()
    batches_while_writing: list[int] = []

    def project_while_writing() -> None:
        while writing.is_set():
            projector.catch_up(
                services.generations.live(),
                on_batch=lambda g: batches_while_writing.append(g.position),
            )
            services.waker.wait(0.05)

    def write(writer: int) -> None:
        for n in range(learners_each):
            enrollment = ledger.enroll(f"learner-{writer}-{n}", "c1").enrollment.id
            ledger.complete_module(enrollment, "m1")
            ledger.complete_unit(enrollment, "u2")
            if n % 4 == writer:
                ledger.complete_module(enrollment, "m2")
        if writer == 0:
            ledger.add_unit("c1", Unit("u5", modules=(Module("m5"),)))

    reader = threading.Thread(target=project_while_writing)
    reader.start()
    try:
        all_at_once(writers, write)
    finally:
        writing.clear()
        reader.join(timeout=DEADLINE)

    live = projector.catch_up(services.generations.live())
    assert live.position == ledger.head_position()
    assert len(batches_while_writing) > 1
    assert_engine_agrees_with_oracle(services)
    rows = table_rows(services, live.number)["course_progress"]
    assert len(rows) == writers * learners_each
    assert projection_numbers(services, "learner-1-1") == (2, 5, 40.0)
