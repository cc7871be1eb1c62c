"""Processes sharing one database see each other's writes: two real servers on one SQLite
file (or PostgreSQL schema), and `progress-ledger import` while a server serves. A read
with `min_position` at the other process's write answers its numbers (read your writes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from bootstrap import Settings
from tests.conftest import ROOT, Server, settings_environment
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.http_helpers import call, course_body, head, numbers, path, progress


def test_two_servers_on_one_database_read_each_others_writes(
    settings: Settings, tmp_path: Path
) -> None:
    with (
        Server(settings, tmp_path / "first.log") as first_server,
        Server(settings, tmp_path / "second.log") as second_server,
        httpx.Client(base_url=first_server.url, timeout=DEADLINE) as first,
        httpx.Client(base_url=second_server.url, timeout=DEADLINE) as second,
    ):
        course = new_id("course")
        call(first, "POST", "/v1/courses", course_body(course), expect=201)
        for writer, reader in ((first, second), (second, first), (first, second)):
            learner = new_id("learner")
            enrolled = call(
                writer,
                "POST",
                "/v1/enrollments",
                {"learner_id": learner, "course_id": course},
                expect=201,
            )
            assert numbers(progress(reader, learner, course, enrolled["position"]))[0] == 0
            unit = path("v1", "enrollments", enrolled["enrollment_id"], "units", "u2", "completion")
            done = call(writer, "POST", unit)
            answer = progress(reader, learner, course, done["position"])
            assert answer["completed_units"] == 1
            assert answer["projection_position"] >= done["position"]


def test_import_while_a_server_serves(settings: Settings, tmp_path: Path) -> None:
    with (
        Server(settings, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        course = new_id("course")
        call(client, "POST", "/v1/courses", course_body(course), expect=201)
        learners = [new_id("learner") for _ in range(5)]
        lines = [
            orjson.dumps({"learner_id": learner, "course_id": course, "unit_id": unit})
            for learner in learners
            for unit in ("u2", "u4")
        ]
        ndjson = tmp_path / "completions.ndjson"
        ndjson.write_bytes(b"\n".join(lines) + b"\n")
        done = subprocess.run(
            [sys.executable, "-m", "cli.progress_ledger", "import", str(ndjson), "--enroll"],
            cwd=ROOT,
            env=settings_environment(settings),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert done.returncode == 0, done.stderr
        position = head(client)  # the import's last write, read from the shared log
        for learner in learners:
            assert progress(client, learner, course, position)["completed_units"] == 2
