"""The PostgreSQL deployment shape: API processes that do not project, and one
`progress-ledger project` process beside them, woken by LISTEN/NOTIFY."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bootstrap import LedgerServices, Settings
from eventstore.wakers import PostgresWaker
from tests.conftest import ROOT, Server, settings_environment
from tests.deadlines import DEADLINE, POLL
from tests.http_helpers import PROBLEM_JSON, call, numbers, path, progress

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("settings", ["postgres"], indirect=True),
]


class Projector:
    """A real `progress-ledger project` process."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.progress_ledger", "project"],
            cwd=ROOT,
            env=settings_environment(settings),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> int:
        """Stops it as an orchestrator would (SIGTERM); returns its exit code."""
        self.process.terminate()
        try:
            code = self.process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code


@pytest.fixture
def apart(settings: Settings) -> Settings:
    """The API does not project; a read waits at most 3 s for its min_position."""
    return settings.model_copy(update={"embedded_projection": False, "read_wait_timeout": 3.0})


@pytest.fixture
def api(apart: Settings, tmp_path: Path) -> Iterator[httpx.Client]:
    server = Server(apart, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as http:
            yield http
    finally:
        server.stop()


def wait_until_caught_up(client: httpx.Client, position: int) -> None:
    """Polls /readyz (bounded) until the projection has applied `position`."""
    deadline = time.monotonic() + DEADLINE
    while call(client, "GET", "/readyz")["projection"]["position"] < position:
        assert time.monotonic() < deadline, f"the projector did not catch up within {DEADLINE}s"
        time.sleep(POLL)


def test_a_separate_projector_serves_an_api_that_does_not_project(
    api: httpx.Client, apart: Settings, tmp_path: Path
) -> None:
    projector = Projector(apart, tmp_path / "projector.log")
    try:
        units = [{"unit_id": f"u{n}"} for n in range(1, 5)]
        created = call(api, "POST", "/v1/courses", {"course_id": "c1", "units": units}, expect=201)
        wait_until_caught_up(api, created["position"])  # the projector process is up

        body = {"learner_id": "ada", "course_id": "c1"}
        enrolled = call(api, "POST", "/v1/enrollments", body, expect=201)
        ada = enrolled["enrollment_id"]
        assert numbers(progress(api, "ada", "c1", enrolled["position"])) == (0, 4, 0.0)
        for count, unit in enumerate(("u1", "u2", "u3"), start=1):
            done = call(api, "POST", path("v1", "enrollments", ada, "units", unit, "completion"))
            expected = (count, 4, 25.0 * count)
            assert numbers(progress(api, "ada", "c1", done["position"])) == expected
    finally:
        assert projector.stop() == 0
    assert "projecting the live generation" in projector.log_path.read_text()

    # Nobody projects now: a read of a position beyond the projection is a 503 to retry.
    behind = call(api, "POST", path("v1", "enrollments", ada, "units", "u4", "completion"))
    url = path("v1", "learners", "ada", "courses", "c1", "progress")
    refused = api.get(url, params={"min_position": behind["position"]})
    assert refused.status_code == 503
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["field"] == "min_position"
    assert call(api, "GET", "/readyz")["projection"]["lag"] >= 1
    # Without min_position the read answers at once, with what the projection has.
    stale = call(api, "GET", url)
    assert (numbers(stale), stale["projection_position"]) == ((3, 4, 75.0), behind["position"] - 1)

    restarted = Projector(apart, tmp_path / "projector.log")
    try:
        wait_until_caught_up(api, behind["position"])
        assert numbers(progress(api, "ada", "c1", behind["position"])) == (4, 4, 100.0)
    finally:
        assert restarted.stop() == 0


def test_the_projector_is_woken_by_notify(services: LedgerServices) -> None:
    waker = services.waker
    assert isinstance(waker, PostgresWaker)
    waker.wait(0.01)  # connects and LISTENs
    woke = threading.Event()

    def sleep_until_woken() -> None:
        waker.wait(3 * DEADLINE)
        woke.set()

    sleeper = threading.Thread(target=sleep_until_woken, daemon=True)
    sleeper.start()
    services.ledger.create_course("c1", "Course", [])
    # Far less than the 3 deadlines it would sleep if the insert's NOTIFY never reached it.
    assert woke.wait(DEADLINE)
    sleeper.join(timeout=DEADLINE)
