"""Done when: with commands flowing into a real server, a rebuild under required-units-v2
completes and switches with no request failing; every read after the switch shows the new
rules; verify passes; and as_of answers match what the live snapshot said at the time."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bootstrap import LedgerServices, Settings
from domain.course import Unit
from projections.audit import EventLog, verify
from tests.conftest import ROOT, Server, settings_environment

UNITS = ["a", "b", "c", "d"]  # "b" is optional: required-units-v2 leaves it out
LEARNERS_PER_WRITER = 15
WRITERS = 2
RUN_AFTER_SWITCH = 1.5  # seconds of commands after the switch


@dataclass(frozen=True)
class Sample:
    """A progress read right after the learner's latest write, and when it was made."""

    started: datetime
    finished: datetime
    learner_id: str
    body: dict[str, Any]


@dataclass
class Load:
    samples: list[Sample]
    failures: list[str]
    stop: threading.Event


def learner(writer: int, n: int) -> str:
    return f"w{writer}-learner-{n}"


def write_and_read(server: Server, writer: int, enrollments: dict[str, str], load: Load) -> None:
    """Completes units in a random order and reads each learner's progress after each write.
    Each learner belongs to one writer, so nothing changes a learner between write and read.
    Until stopped: when every learner has finished, the writer enrolls another."""
    rng = random.Random(writer)
    open_units = {name: list(UNITS) for name in enrollments}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        while not load.stop.is_set():
            candidates = [name for name, units in open_units.items() if units]
            if not candidates:  # everyone finished: a new learner keeps the commands coming
                name = learner(writer, len(enrollments))
                enrolled = http.post(
                    "/v1/enrollments", json={"learner_id": name, "course_id": "c1"}
                )
                if enrolled.status_code != 201:
                    load.failures.append(f"enroll {enrolled.status_code} {enrolled.text}")
                    continue
                enrollments[name] = enrolled.json()["enrollment_id"]
                open_units[name] = list(UNITS)
                candidates = [name]
            name = rng.choice(candidates)
            unit = open_units[name].pop(rng.randrange(len(open_units[name])))
            wrote = http.post(f"/v1/enrollments/{enrollments[name]}/units/{unit}/completion")
            if wrote.status_code != 200:
                load.failures.append(f"write {wrote.status_code} {wrote.text}")
                continue
            started = datetime.now(UTC)
            read = http.get(
                f"/v1/learners/{name}/courses/c1/progress",
                params={"min_position": wrote.json()["position"]},
            )
            finished = datetime.now(UTC)
            if read.status_code != 200:
                load.failures.append(f"read {read.status_code} {read.text}")
                continue
            load.samples.append(Sample(started, finished, name, read.json()))
            time.sleep(0.005)


def rebuild_through_the_api(client: httpx.Client) -> None:
    started = client.post(
        "/v1/projections/course_progress/rebuilds", json={"rules": "required-units-v2"}
    )
    assert started.status_code == 202
    rebuild = f"/v1/projections/course_progress/rebuilds/{started.json()['generation']}"
    deadline = time.monotonic() + 60
    while client.get(rebuild).json()["status"] != "live":
        assert time.monotonic() < deadline, "the rebuild did not switch in time"
        time.sleep(0.02)


@pytest.mark.parametrize("started_by", ["api", "cli"])
def test_a_rebuild_under_load_switches_without_a_failed_request(
    started_by: str,
    settings: Settings,
    services: LedgerServices,
    server: Server,
    client: httpx.Client,
) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", [Unit(u, required=u != "b") for u in UNITS])
    enrollments: list[dict[str, str]] = []
    for writer in range(WRITERS):
        mine = {}
        for n in range(LEARNERS_PER_WRITER):
            name = learner(writer, n)
            mine[name] = str(ledger.enroll(name, "c1").enrollment.id)
        enrollments.append(mine)
    for n in range(300):  # history for the rebuild to replay, beside the live learners
        enrollment = ledger.enroll(f"past-{n}", "c1").enrollment.id
        for unit in UNITS[: n % 5]:
            ledger.complete_unit(enrollment, unit)

    load = Load([], [], threading.Event())
    writers = [
        threading.Thread(target=write_and_read, args=(server, w, enrollments[w], load))
        for w in range(WRITERS)
    ]
    for thread in writers:
        thread.start()
    try:
        time.sleep(0.5)
        if started_by == "api":
            rebuild_through_the_api(client)
        else:
            rebuilt = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cli.progress_ledger",
                    "rebuild",
                    "--rules",
                    "required-units-v2",
                ],
                cwd=ROOT,
                env=settings_environment(settings),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert rebuilt.returncode == 0, rebuilt.stderr
        seen_live = datetime.now(UTC)
        time.sleep(RUN_AFTER_SWITCH)
    finally:
        load.stop.set()
        for thread in writers:
            thread.join(timeout=30)

    assert load.failures == []
    generations = client.get("/v1/projections").json()["generations"]
    assert [(g["rules"], g["status"]) for g in generations] == [
        ("units-v1", "retired"),
        ("required-units-v2", "live"),
    ]
    switched_at = datetime.fromisoformat(generations[1]["switched_at"])

    before = [s for s in load.samples if s.finished < switched_at]
    after = [s for s in load.samples if s.started > seen_live]
    assert before and after
    assert {s.body["rules"] for s in before} == {"units-v1"}
    assert {s.body["rules"] for s in after} == {"required-units-v2"}
    assert all(s.body["total_units"] == 3 for s in after)

    log = EventLog(ledger.recorder, ledger.mapper, services.db)
    checked = verify(log, services.generations)
    assert (checked.generation.rules, checked.mismatches) == ("required-units-v2", [])
    assert checked.checked == 300 + sum(len(mine) for mine in enrollments)

    # The switch commits a moment after switched_at is taken: leave that moment out.
    margin = timedelta(milliseconds=500)
    settled = [
        s
        for s in load.samples
        if s.finished < switched_at - margin or s.started > switched_at + margin
    ]
    for sample in settled[:: max(1, len(settled) // 40)]:
        replayed = client.get(
            f"/v1/learners/{sample.learner_id}/courses/c1/progress",
            params={"as_of": sample.finished.isoformat()},
        ).json()
        assert numbers(replayed) == numbers(sample.body), sample


def numbers(body: dict[str, Any]) -> tuple[Any, ...]:
    completed_at = body["completed_at"] and datetime.fromisoformat(body["completed_at"])
    return (
        body["rules"],
        body["completed_units"],
        body["total_units"],
        body["percentage"],
        completed_at,
        [u["completed"] for u in body["units"]],
    )
