"""`progress-ledger serve` with several worker processes (LEDGER_WORKERS): on PostgreSQL two
worker processes of the server answer (each /healthz names its process), writes and reads
go through; SQLite, one process's store, is refused."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bootstrap import Settings
from tests.conftest import ROOT, Server, settings_environment
from tests.deadlines import DEADLINE, wait_until
from tests.factories import new_id
from tests.http_helpers import course_body, head


@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_two_workers_answer_writes_and_reads(settings: Settings, tmp_path: Path) -> None:
    course = new_id("course")
    with (
        Server(settings, tmp_path / "server.log", extra_env={"LEDGER_WORKERS": "2"}) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        assert client.post("/v1/courses", json=course_body(course)).status_code == 201
        for learner in ("ada", "bob", "cy"):
            enrolled = client.post(
                "/v1/enrollments", json={"learner_id": learner, "course_id": course}
            )
            enrollment_id = enrolled.json()["enrollment_id"]
            completion = f"/v1/enrollments/{enrollment_id}/units/u2/completion"
            assert client.post(completion).status_code == 200
        position = head(client)
        assert two_worker_processes_answer(server)
        for learner in ("ada", "bob", "cy"):
            read = client.get(
                f"/v1/learners/{learner}/courses/{course}/progress",
                params={"min_position": position},
            )
            assert read.status_code == 200, read.text
            assert read.json()["completed_units"] == 1
            # Whichever worker answers, a plain read is at least as fresh.
            plain = client.get(f"/v1/learners/{learner}/courses/{course}/progress")
            assert plain.json()["projection_position"] >= position


def two_worker_processes_answer(server: Server) -> bool:
    """Asks /healthz on new connections (a kept-alive one stays with its worker), a few at a
    time, until two processes have answered; both must be children of the server."""
    answered: set[int] = set()

    def ask(_: int) -> int:
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as fresh:
            return int(fresh.get("/healthz").json()["process"])

    def two_answered() -> bool:
        with ThreadPoolExecutor(4) as pool:
            answered.update(pool.map(ask, range(4)))
        return len(answered) >= 2

    wait_until(two_answered, "a second worker process to answer")
    return all(parent_of(pid) == server.process.pid for pid in answered)


def parent_of(pid: int) -> int:
    # /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after it.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    refused = subprocess.run(
        [sys.executable, "-m", "cli.progress_ledger", "serve", "--port", "9"],
        cwd=ROOT,
        env={**settings_environment(settings), "LEDGER_WORKERS": "2"},
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert refused.returncode == 2
    assert "LEDGER_WORKERS above 1 needs PostgreSQL" in refused.stderr
