"""Erasing a learner through a real server: afterwards the whole database, dumped (pg_dump;
the SQLite file's bytes with its write-ahead log), holds neither their id in any letter case,
nor its SHA-256 or MD5, nor any enrollment id derived from it; the other learner is intact,
their reads answer 404, `verify` passes and a rebuild has no rows for them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bootstrap import LedgerServices, Settings
from domain.course import Unit
from domain.identifiers import legacy_enrollment_id
from tests.conftest import POSTGRES_URL, ROOT, needs_a_process, settings_environment
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.http_helpers import assert_problem, call, course_body, path, progress


def cli(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.progress_ledger", *arguments],
        cwd=ROOT,
        env=settings_environment(settings),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def database_bytes(settings: Settings) -> bytes:
    """Everything the database holds, as bytes: SQLite's file and its write-ahead log, or a
    pg_dump of the ledger's schema (data and definitions)."""
    url = urlsplit(settings.database_url)
    if url.scheme == "sqlite":
        database = Path(url.path[1:])
        files = [database, Path(f"{database}-wal"), Path(f"{database}-journal")]
        return b"".join(file.read_bytes() for file in files if file.exists())
    dumped = subprocess.run(
        ["pg_dump", "--dbname", POSTGRES_URL, "--schema", settings.database_schema],
        capture_output=True,
        timeout=DEADLINE,
        check=True,
    )
    return dumped.stdout


def traces_of(learner: str, courses: list[str]) -> dict[str, str]:
    """What anyone holding the learner's id could look for, each in lower case (the dump is
    searched lowered): the id, its hashes, and the enrollment ids computable from it (the
    old uuid5 scheme's; today's need the learner's key, which erasure destroys)."""
    traces = {"id": learner.lower()}
    for spelling in {learner, learner.lower(), learner.upper()}:
        traces[f"sha256({spelling})"] = hashlib.sha256(spelling.encode()).hexdigest()
        traces[f"md5({spelling})"] = hashlib.md5(spelling.encode()).hexdigest()
    for course in courses:
        legacy = legacy_enrollment_id(course, learner)
        traces[f"uuid5 enrollment in {course}"] = str(legacy)
        traces[f"uuid5 enrollment hex in {course}"] = legacy.hex
    return traces


def found_in(dump: bytes, traces: dict[str, str]) -> list[str]:
    lowered = dump.lower()
    return [name for name, value in traces.items() if value.encode() in lowered]


def enroll(client: httpx.Client, learner: str, course: str, key: str) -> dict[str, Any]:
    response = client.post(
        "/v1/enrollments",
        json={"learner_id": learner, "course_id": course},
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_an_erased_learner_leaves_no_trace_in_the_database(
    settings: Settings, client: httpx.Client
) -> None:
    courses = [new_id("course"), new_id("course")]
    for course in courses:
        call(client, "POST", "/v1/courses", course_body(course), expect=201)
    learner = f"Ada.Lovelace+{uuid.uuid4().hex[:6]}@Example.org"
    other = f"grace.hopper+{uuid.uuid4().hex[:6]}@example.org"
    ada = [enroll(client, learner, course, new_id("key"))["enrollment_id"] for course in courses]
    grace = enroll(client, other, courses[0], new_id("key"))["enrollment_id"]
    # Enough other rows around hers that pages split and rows move while she is stored.
    for index in range(120):
        crowd = enroll(client, f"crowd-{index}-{uuid.uuid4().hex[:6]}", courses[1], new_id("k"))
        url = path("v1", "enrollments", crowd["enrollment_id"], "units", "u1", "completion")
        assert client.post(url, headers={"Idempotency-Key": new_id("key")}).status_code == 200
    assert ada[0] != str(legacy_enrollment_id(courses[0], learner))
    for enrollment, unit in ((ada[0], "u1"), (ada[0], "u2"), (ada[1], "u4"), (grace, "u1")):
        url = path("v1", "enrollments", enrollment, "units", unit, "completion")
        response = client.post(url, headers={"Idempotency-Key": new_id("key")})
        assert response.status_code == 200, response.text
    # Staff acting for her, saying so in their own words: sealed under her key too.
    staff = {"reason": f"regraded for {learner}", "on_behalf_of": learner}
    unit3 = path("v1", "enrollments", ada[0], "units", "u3", "completion")
    for method, options in (("POST", {"json": staff}), ("DELETE", {"params": staff})):
        response = client.request(method, unit3, **options)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
    retake = {"reason": f"a retake for {learner}", "on_behalf_of": learner}
    call(client, "POST", path("v1", "enrollments", ada[1], "reset"), retake)
    batch = client.post(
        "/v1/completions:batch",
        json=[
            {"learner_id": learner, "course_id": courses[0], "module_id": "m1"},
            {"learner_id": other, "course_id": courses[0], "module_id": "m1"},
        ],
        headers={"Idempotency-Key": new_id("key")},
    )
    assert batch.status_code == 200, batch.text
    assert progress(client, learner, courses[0], batch.json()["position"])["completed_units"] == 2

    exported = call(client, "GET", path("v1", "learners", learner, "export"))
    assert exported["learner_id"] == learner
    assert sorted(e["enrollment_id"] for e in exported["enrollments"]) == sorted(ada)
    first = next(e for e in exported["enrollments"] if e["enrollment_id"] == ada[0])
    assert first["course_id"] == courses[0]
    assert [event["type"] for event in first["events"]] == [
        "Enrolled",
        "UnitCompleted",
        "UnitCompleted",
        "UnitCompleted",
        "UnitCompletionRevoked",
        "ModuleCompleted",
    ]
    assert first["events"][0]["data"]["learner_id"] == learner
    assert first["events"][4]["on_behalf_of"] == learner
    assert first["progress"]["completed_units"] == 2
    traces = traces_of(learner, courses)
    assert found_in(database_bytes(settings), traces) == ["id"]  # the search can fail

    erased = call(client, "DELETE", path("v1", "learners", learner))

    assert erased["erased_enrollments"] == 2
    position = erased["position"]
    for course in courses:
        url = path("v1", "learners", learner, "courses", course, "progress")
        assert_problem(client.get(url, params={"min_position": position}), 404, "learner_id")
    roster = call(client, "GET", path("v1", "courses", courses[0], "progress"))
    assert [item["learner_id"] for item in roster["items"]] == [other]
    assert roster["summary"]["enrolled"] == 1
    crowded = call(client, "GET", path("v1", "courses", courses[1], "progress"))
    assert crowded["summary"]["enrolled"] == 120
    assert progress(client, other, courses[0], position)["completed_units"] == 1
    assert call(client, "GET", path("v1", "learners", learner, "progress"))["courses"] == []
    assert_problem(client.get(path("v1", "learners", learner, "export")), 404, "learner_id")
    assert_problem(client.delete(path("v1", "learners", learner)), 404, "learner_id")
    history = client.get(path("v1", "enrollments", ada[0], "history"))
    assert_problem(history, 404, "enrollment_id")
    completion = path("v1", "enrollments", ada[0], "units", "u3", "completion")
    assert_problem(client.post(completion), 404, "enrollment_id")

    verified = cli(settings, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    rebuilt = cli(settings, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "parked" not in rebuilt.stderr
    roster = call(client, "GET", path("v1", "courses", courses[0], "progress"))
    assert [item["learner_id"] for item in roster["items"]] == [other]
    assert call(client, "GET", "/v1/projections/parked")["parked"] == []

    dump = database_bytes(settings)
    assert found_in(dump, traces) == []
    assert other.lower().encode() in dump.lower()
    # The log is append-only: the streams are still there, under ids no one can tie to her.
    assert all(
        uuid.UUID(enrollment).hex.encode() in dump or enrollment.encode() in dump
        for enrollment in ada
    )


def test_erase_and_export_learner_from_the_command_line(services: LedgerServices) -> None:
    needs_a_process()
    services.settings.read_wait_timeout = 0
    course_id = new_id("course")
    learner = new_id("Dee")
    services.ledger.create_course(course_id, "Course", [Unit("u1"), Unit("u2")])
    enrollment = services.ledger.enroll(learner, course_id).enrollment.id
    services.ledger.complete_unit(enrollment, "u2")
    services.engine.catch_up(services.generations.live())

    exported = cli(services.settings, "export-learner", learner)
    erased = cli(services.settings, "erase", learner)
    again = cli(services.settings, "erase", learner)

    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["learner_id"] == learner
    (only,) = document["enrollments"]
    assert (only["enrollment_id"], only["course_id"]) == (str(enrollment), course_id)
    assert [event["type"] for event in only["events"]] == ["Enrolled", "UnitCompleted"]
    assert only["progress"]["completed_units"] == 1
    assert erased.returncode == 0, erased.stderr
    assert "erased: 1 enrollments" in erased.stdout
    assert again.returncode == 2 and "is not known" in again.stderr
    services.engine.catch_up(services.generations.live())
    assert services.reads.learner_course(learner, course_id) is None
