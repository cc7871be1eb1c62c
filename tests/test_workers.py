"""`progress-ledger serve` with several worker processes (LEDGER_WORKERS): on PostgreSQL every
worker answers and one of them projects; SQLite, one process's store, is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bootstrap import Settings
from tests.conftest import ROOT, Server, settings_environment
from tests.factories import new_id
from tests.http_helpers import course_body, head


@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_two_workers_answer_writes_and_reads(settings: Settings, tmp_path: Path) -> None:
    course = new_id("course")
    with (
        Server(settings, tmp_path / "server.log", extra_env={"LEDGER_WORKERS": "2"}) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
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


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    refused = subprocess.run(
        [sys.executable, "-m", "cli.progress_ledger", "serve", "--port", "9"],
        cwd=ROOT,
        env={**settings_environment(settings), "LEDGER_WORKERS": "2"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "LEDGER_WORKERS above 1 needs PostgreSQL" in refused.stderr
