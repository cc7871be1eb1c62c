"""A client generated from the live /openapi.json by `openapi-python-client`, as an
integrator would make one: it generates with no warning, and a course, an enrollment, a
completion and a refusal go through it against a real server."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from tests.conftest import Server
from tests.deadlines import DEADLINE
from tests.factories import new_id

# The batch endpoint also takes NDJSON, a content type the generator does not know: the
# integrator's own mapping makes it a file body.
CONFIG = "content_type_overrides:\n  application/x-ndjson: application/octet-stream\n"


def generated_client(server: Server, where: Path) -> str:
    """Generates the client package into `where`; its name, importable from there."""
    (where / "openapi.json").write_bytes(httpx.get(f"{server.url}/openapi.json").content)
    (where / "config.yml").write_text(CONFIG)
    name = f"ledger_client_{new_id('c').replace('-', '_')}"
    tools = str(Path(sys.executable).parent)  # its post-generation step runs ruff
    generated = subprocess.run(
        [
            os.path.join(tools, "openapi-python-client"),
            "generate",
            "--path",
            "openapi.json",
            "--meta",
            "none",
            "--output-path",
            name,
            "--config",
            "config.yml",
        ],
        cwd=where,
        env={**os.environ, "PATH": f"{tools}:{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=DEADLINE * 4,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "warning" not in (generated.stdout + generated.stderr).lower(), generated.stdout
    return name


def module(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")


def test_a_generated_client_drives_the_ledger(server: Server, tmp_path: Path) -> None:
    package = generated_client(server, tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        drive(package, server.url)
    finally:
        sys.path.remove(str(tmp_path))
        for loaded in [name for name in sys.modules if name.startswith(package)]:
            del sys.modules[loaded]


def drive(package: str, url: str) -> None:
    client: Any = module(package, "client").Client(base_url=url, raise_on_unexpected_status=True)
    with client:
        drive_with(package, client)


def drive_with(package: str, client: Any) -> None:
    models = module(package, "models")
    create_course = module(package, "api.courses.create_course")
    enroll = module(package, "api.enrollments.enroll")
    complete_unit = module(package, "api.enrollments.complete_unit")
    read = module(package, "api.progress.learner_course_progress")

    course_id = new_id("course")
    course = models.CourseIn(
        course_id=course_id,
        title="Generated",
        units=[models.UnitIn(unit_id="u1"), models.UnitIn(unit_id="u2")],
    )
    created = create_course.sync(client=client, body=course)
    assert isinstance(created, models.CourseChanged) and created.course_id == course_id

    enrolled = enroll.sync(
        client=client, body=models.EnrollmentIn(learner_id="ada", course_id=course_id)
    )
    assert isinstance(enrolled, models.EnrollmentOut), enrolled

    # The generator cannot leave an optional body out (it would send its UNSET): an empty one.
    nothing = models.CompletionIn()
    done = complete_unit.sync(
        client=client, enrollment_id=enrolled.enrollment_id, unit_id="u1", body=nothing
    )
    assert isinstance(done, models.Appended), done
    assert "UnitCompleted" in done.appended

    progress = read.sync(
        client=client, learner_id="ada", course_id=course_id, min_position=done.position
    )
    assert (progress.completed_units, progress.percentage) == (1, 50.0)

    refused = create_course.sync_detailed(client=client, body=course)
    assert refused.status_code == 409
    assert isinstance(refused.parsed, models.Problem)
    assert refused.parsed.status == 409 and refused.parsed.field == "course_id"
    missing = complete_unit.sync(
        client=client, enrollment_id=enrolled.enrollment_id, unit_id="u9", body=nothing
    )
    assert isinstance(missing, models.Problem) and missing.field == "unit_id"
