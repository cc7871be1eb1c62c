"""The HTTP figures: durable commands against a no-op, reads, freshness and bulk ingest."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from bench.data import Shape, course_ids, course_units
from bench.positions import live_position, percentiles, wait_caught_up
from bench.servers import Process, Server, environment, projector
from bench.under_load import under_load
from bench.wrk import run_wrk
from bench.xapi_ingest import (
    STATEMENTS_PER_REQUEST,
    link_activities,
    post_statements,
    xapi_bodies,
)
from bootstrap import Settings, bootstrap
from domain.course import Course
from domain.enrollment import Enrollment

COMPLETION_BODY = '{"occurred_at": "2024-05-01T10:00:00Z"}'
UNITS = 20


@dataclass(frozen=True)
class Durations:
    load_seconds: float
    freshness_samples: int
    bulk_requests: int
    bulk_items: int


def seed(settings: Settings, learners: int) -> list[Enrollment]:
    """Courses and enrollments, written straight through the ledger."""
    services = bootstrap(settings)
    try:
        courses = [
            Course.create(course_id, course_id, course_units(course_id))
            for course_id in course_ids_for_web()
        ]
        services.ledger.save(*courses)
        pairs = [
            (f"web-learner-{index}", course.course_id)
            for index in range(learners)
            for course in courses
        ]
        keys = services.keys.enroll(pairs)
        enrollments = [
            Enrollment(id=keys[learner].enrollment_id(course), learner_id=learner, course_id=course)
            for learner, course in pairs
        ]
        for start in range(0, len(enrollments), 1000):
            services.ledger.save(*enrollments[start : start + 1000])
    finally:
        services.close()
    return enrollments


def course_ids_for_web() -> list[str]:
    return [f"web-{course_id}" for course_id in course_ids(Shape(learners=0))]


def completion_paths(enrollments: list[Enrollment]) -> list[str]:
    """Every (enrollment, unit) once; neighbours are different enrollments, so 64 clients
    never race on one enrollment and every request appends an event."""
    return [
        f"/v1/enrollments/{e.id}/units/{e.course_id}-u{unit}/completion"
        for unit in range(UNITS)
        for e in enrollments
    ]


def read_paths(enrollments: list[Enrollment]) -> list[str]:
    return [f"/v1/learners/{e.learner_id}/courses/{e.course_id}/progress" for e in enrollments]


def run_open_loop(server: Server, paths_file: Path, rate: float, seconds: float) -> Any:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.openloop",
            "--port",
            str(server.port),
            "--paths",
            str(paths_file),
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def freshness(
    server: Server, settings: Settings, enrollments: list[Enrollment], samples: int
) -> dict[str, Any]:
    """From a command's response to the projector (its own process) having applied it."""
    lags: list[float] = []
    with (
        httpx.Client(base_url=server.url, timeout=30) as client,
        psycopg.connect(settings.database_url, autocommit=True) as connection,
    ):
        for index in range(samples):
            enrollment = enrollments[index % len(enrollments)]
            unit = f"{enrollment.course_id}-u{index // len(enrollments)}"
            response = client.post(f"/v1/enrollments/{enrollment.id}/units/{unit}/completion")
            answered = time.perf_counter()
            position = response.json()["position"]
            while live_position(connection, settings) < position:
                time.sleep(0.0005)
            lags.append(time.perf_counter() - answered)
            time.sleep(0.02)
    return percentiles(lags)


def bulk_bodies(requests: int, items: int) -> list[bytes]:
    """New learners completing modules and units: NDJSON, `items` lines a request."""
    courses = course_ids_for_web()
    lines: list[bytes] = []
    learner = 0
    while len(lines) < requests * items:
        for course_id in courses:
            who = {"learner_id": f"bulk-learner-{learner}", "course_id": course_id}
            lines.append(orjson.dumps({**who, "module_id": f"{course_id}-u0-a"}))
            lines.append(orjson.dumps({**who, "module_id": f"{course_id}-u0-b"}))
            lines.extend(
                orjson.dumps({**who, "unit_id": f"{course_id}-u{unit}"}) for unit in range(1, 8)
            )
        learner += 1
    return [b"\n".join(lines[start : start + items]) for start in range(0, requests * items, items)]


def bulk_beside_xapi(
    server: Server, bulk: list[bytes], xapi: list[bytes]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bulk ingest, and the xAPI intake in turn with it: a bulk request, then POSTs of 1,000
    statements as many as its items, and so on, so that both meet the same load of a busy
    machine. xAPI's events are every event its statements appended (the statements' own,
    the enrollments, the completions), read off the log's head."""
    events = errors = 0
    bulk_seconds = xapi_seconds = 0.0
    xapi_events = 0
    per_round = max(1, len(xapi) // max(1, len(bulk)))
    with httpx.Client(base_url=server.url, timeout=300) as client:
        link_activities(client, course_ids_for_web())
        for index, body in enumerate(bulk):
            started = time.perf_counter()
            response = client.post(
                "/v1/completions:batch?enroll=true",
                content=body,
                headers={"Content-Type": "application/x-ndjson"},
            )
            response.raise_for_status()
            bulk_seconds += time.perf_counter() - started
            outcome = response.json()
            errors += outcome["errors"]
            events += sum(len(result["appended"]) for result in outcome["results"])
            before = client.get("/readyz").json()["projection"]["head"]
            started = time.perf_counter()
            for thousand in xapi[index * per_round : (index + 1) * per_round]:
                post_statements(client, thousand)
            xapi_seconds += time.perf_counter() - started
            xapi_events += client.get("/readyz").json()["projection"]["head"] - before
    statements = min(len(xapi), per_round * len(bulk)) * STATEMENTS_PER_REQUEST
    return (
        {
            "requests": len(bulk),
            "events": events,
            "item_errors": errors,
            "events_per_second": events / bulk_seconds,
        },
        {
            "requests": statements // STATEMENTS_PER_REQUEST,
            "statements": statements,
            "events": xapi_events,
            "events_per_second": xapi_events / xapi_seconds,
            "statements_per_second": statements / xapi_seconds,
        },
    )


def complete_units(
    server: Server,
    enrollments: list[Enrollment],
    workdir: Path,
    seconds: float,
    *,
    keyed: bool = False,
) -> dict[str, Any]:
    paths = completion_paths(enrollments)
    return run_wrk(
        server.url,
        paths,
        workdir,
        method="POST",
        body=COMPLETION_BODY,
        seconds=seconds,
        key_prefix=f"bench-{uuid.uuid4().hex[:8]}" if keyed else None,
    )


def measured(
    server: Server, run: Callable[[], dict[str, Any]], projector: Process | None = None
) -> dict[str, Any]:
    """The run's figures, plus the server's own CPU time per request (robust to a busy
    machine: it counts only what the server process spent) and, when given, the
    projector's, which shares the machine's cores with the server."""
    processes = (
        {"server": server} if projector is None else {"server": server, "projector": projector}
    )
    before = {name: process.cpu_seconds() for name, process in processes.items()}
    figures = run()
    requests = max(figures["requests"], 1)
    for name, process in processes.items():
        spent = process.cpu_seconds() - before[name]
        figures[f"{name}_cpu_ms_per_request"] = spent / requests * 1000
    return figures


def web_figures(settings: Settings, durations: Durations, workdir: Path) -> dict[str, Any]:
    seconds = durations.load_seconds
    learners = max(100, int(seconds * 5000 / UNITS / len(course_ids_for_web())))
    enrollments = seed(settings, 3 * learners + 20)
    # Each run of completions has enrollments of its own, and each freshness probe 50 that
    # no load touches, so every request of every run appends.
    third = (len(enrollments) - 100) // 3
    loaded, keyed, beside = (
        enrollments[start : start + third] for start in range(0, 3 * third, third)
    )
    probed, probed_under_load = enrollments[-100:-50], enrollments[-50:]
    figures: dict[str, Any] = {}

    noop = Server(
        "bench.noop:app",
        environment(settings, embedded_projection=False),
        workdir / "noop.log",
        "/docs",
    )
    try:
        figures["noop"] = measured(noop, lambda: complete_units(noop, loaded, workdir, seconds))
    finally:
        noop.stop()

    env = environment(settings, embedded_projection=False)
    env["LEDGER_XAPI_ENROLL"] = "true"  # the xAPI intake's learners are new, like bulk's
    api = Server("api.main:app", env, workdir / "api.log", "/readyz")
    project = projector(settings, workdir / "projector.log")
    try:
        figures["commands"] = measured(
            api, lambda: complete_units(api, loaded, workdir, seconds), project
        )
        figures["keyed_commands"] = measured(
            api, lambda: complete_units(api, keyed, workdir, seconds, keyed=True), project
        )
        figures["commands_probed"] = under_load(
            api,
            project,
            settings,
            lambda: measured(api, lambda: complete_units(api, beside, workdir, seconds)),
            probed_under_load,
            COMPLETION_BODY,
        )
        with httpx.Client(base_url=api.url) as client:
            head = client.get("/readyz").json()["projection"]["head"]
        wait_caught_up(settings, head)
        reads_file = workdir / "reads.txt"
        reads_file.write_text("\n".join(read_paths(loaded)) + "\n")
        figures["reads_fixed"] = run_open_loop(api, reads_file, 1000, seconds)
        figures["reads_saturation"] = measured(
            api, lambda: run_wrk(api.url, read_paths(loaded), workdir, seconds=seconds)
        )
        figures["freshness"] = freshness(api, settings, probed, durations.freshness_samples)
        statements = durations.bulk_requests * durations.bulk_items
        figures["bulk"], figures["xapi"] = bulk_beside_xapi(
            api,
            bulk_bodies(durations.bulk_requests, durations.bulk_items),
            xapi_bodies(course_ids_for_web(), statements // STATEMENTS_PER_REQUEST),
        )
    finally:
        api.stop()
        project.stop()
    return figures
