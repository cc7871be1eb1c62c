"""PostgreSQL stopped in the middle of a load and started again (a cluster of the test's own):
while it is down every answer is a quick 503 problem+json; afterwards the same server
recovers by itself; every acknowledged completion is in the store, none counted twice."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from bootstrap import Settings, bootstrap
from tests.conftest import Server
from tests.deadlines import DEADLINE, wait_until
from tests.http_helpers import PROBLEM_JSON, head
from tests.private_postgres import PrivatePostgres, private_postgres

__all__ = ["private_postgres"]

LEARNERS = 6
UNITS = 25
QUICK = 5.0  # seconds: the longest a 503 may take


@dataclass
class Tally:
    acknowledged: dict[tuple[int, str], dict[str, object]] = field(default_factory=dict)
    keys: dict[tuple[int, str], str] = field(default_factory=dict)
    unavailable: list[float] = field(default_factory=list)
    # Learners that have heard a 503, and those with nothing left to send.
    noticed: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def learner_load(client: httpx.Client, learner: int, enrollment_id: str, tally: Tally) -> None:
    for n in range(UNITS):
        unit = f"u{n}"
        key = uuid.uuid4().hex
        while True:  # a client that got a 503 or no answer retries with the same key
            started = time.monotonic()
            try:
                answer = client.post(
                    f"/v1/enrollments/{enrollment_id}/units/{unit}/completion",
                    json={},
                    headers={"Idempotency-Key": key},
                )
            except httpx.TransportError:
                time.sleep(0.2)
                continue
            elapsed = time.monotonic() - started
            with tally.lock:
                if answer.status_code == 200:
                    tally.acknowledged[learner, unit] = answer.json()
                    tally.keys[learner, unit] = key
                    break
                if answer.status_code == 503 and answer.headers["content-type"] == PROBLEM_JSON:
                    tally.unavailable.append(elapsed)
                    tally.noticed.add(learner)
                else:
                    tally.unexpected.append(f"{answer.status_code} {answer.text}")
                    return
            time.sleep(0.2)
        time.sleep(0.05)
    with tally.lock:
        tally.finished.add(learner)


PROBES = (
    "/v1/learners/learner-0/progress",
    "/v1/learners/learner-0/courses/c1/progress",
    "/readyz",
    "/v1/courses/c1",
)


def timed_get(client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = client.get(path)
    return answer, time.monotonic() - started


@pytest.mark.slow
def test_a_database_outage_gives_quick_503s_and_loses_nothing(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    settings = Settings(database_url=private_postgres.url)
    server = Server(settings, tmp_path / "server.log")
    with server, httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
        units = [{"unit_id": f"u{n}"} for n in range(UNITS)]
        assert client.post("/v1/courses", json={"course_id": "c1", "units": units}).is_success
        enrollments = [
            client.post(
                "/v1/enrollments", json={"learner_id": f"learner-{n}", "course_id": "c1"}
            ).json()["enrollment_id"]
            for n in range(LEARNERS)
        ]
        tally = Tally()
        clients = [
            threading.Thread(target=learner_load, args=(client, n, enrollments[n], tally))
            for n in range(LEARNERS)
        ]
        for thread in clients:
            thread.start()
        wait_until(lambda: len(tally.acknowledged) >= LEARNERS * 5, "some completions")

        private_postgres.stop()
        # Asked at once: each waits out the connect timeout before its 503.
        with ThreadPoolExecutor(len(PROBES)) as pool:
            probes = list(pool.map(lambda path: timed_get(client, path), PROBES))
        for answer, elapsed in probes:
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == PROBLEM_JSON
            assert answer.headers["retry-after"]
            assert elapsed < QUICK
        # Down until every learner still sending has heard a 503 (and retried with its key).
        wait_until(
            lambda: tally.noticed | tally.finished >= set(range(LEARNERS)),
            "every learner to notice the outage",
        )
        private_postgres.start()

        for thread in clients:
            thread.join(timeout=DEADLINE)
        assert not tally.unexpected, tally.unexpected[:5]
        assert len(tally.acknowledged) == LEARNERS * UNITS
        assert tally.unavailable, "the outage was never noticed"
        assert max(tally.unavailable) < QUICK, max(tally.unavailable)
        assert server.process.poll() is None  # recovered without a restart

        # A retry of an acknowledged request with its key is answered, not counted again.
        start = head(client)
        again = client.post(
            f"/v1/enrollments/{enrollments[0]}/units/u0/completion",
            json={},
            headers={"Idempotency-Key": tally.keys[0, "u0"]},
        )
        assert again.json() == tally.acknowledged[0, "u0"]
        assert head(client) == start
        progress = client.get(
            "/v1/learners/learner-3/courses/c1/progress", params={"min_position": start}
        )
        assert progress.status_code == 200, progress.text
        assert progress.json()["completed_units"] == UNITS

    services = bootstrap(settings)
    try:
        for n, enrollment_id in enumerate(enrollments):
            enrollment = services.ledger.get_enrollment(UUID(enrollment_id))
            assert set(enrollment.completed_units) == {f"u{u}" for u in range(UNITS)}, n
            assert enrollment.version == UNITS + 1  # no completion counted twice
    finally:
        services.close()
