"""`progress-ledger import FILE.ndjson`: the batch endpoint's work from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from bootstrap import LedgerServices, Settings
from domain.course import Unit
from tests.conftest import ROOT, settings_environment
from tests.deadlines import DEADLINE
from tests.factories import enrollment_id_of, new_id


def run_import(settings: Settings, path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.progress_ledger", "import", str(path), *flags],
        cwd=ROOT,
        env=settings_environment(settings),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def test_import_records_every_good_line_and_reports_the_bad(
    settings: Settings, services: LedgerServices, tmp_path: Path
) -> None:
    course_id = new_id("course")
    services.ledger.create_course(course_id, "Course", [Unit(f"u{i}") for i in range(5)])
    learners = [new_id("learner") for _ in range(30)]
    lines = [
        orjson.dumps({"learner_id": learner, "course_id": course_id, "unit_id": f"u{unit}"})
        for learner in learners
        for unit in range(5)
    ]
    lines.insert(7, b'{"learner_id": "x", "course_id": "' + course_id.encode() + b'"}')
    path = tmp_path / "completions.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")

    done = run_import(settings, path, "--enroll", "--batch-size", "40")

    assert done.returncode == 1, done.stderr
    assert "line 8" in done.stderr
    assert "150 recorded, 0 already complete, 1 refused" in done.stderr
    for learner in learners:
        enrollment = services.ledger.get_enrollment(
            enrollment_id_of(services.ledger, course_id, learner)
        )
        assert enrollment.completed_units == {f"u{i}" for i in range(5)}

    again = run_import(settings, path, "--enroll")
    assert "0 recorded, 150 already complete, 1 refused" in again.stderr


def test_the_enroll_hint_names_the_import_flag(
    settings: Settings, services: LedgerServices, tmp_path: Path
) -> None:
    course_id = new_id("course")
    services.ledger.create_course(course_id, "Course", [Unit("u1")])
    path = tmp_path / "completions.ndjson"
    path.write_bytes(orjson.dumps({"learner_id": "ada", "course_id": course_id, "unit_id": "u1"}))

    done = run_import(settings, path)

    assert done.returncode == 1, done.stderr
    assert "run with --enroll to enroll as needed" in done.stderr
    assert "?enroll=true" not in done.stderr
