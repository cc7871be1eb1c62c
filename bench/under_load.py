"""The projection under the 64-client command load: how fresh a read-your-writes read is
beside the load, and what the live projector (its own process) spends per event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from bench.positions import caught_up, events_between, head_position, percentiles
from bench.servers import Process, Server
from bootstrap import Settings
from domain.enrollment import Enrollment

# The probe starts once the load has had this long to fill its 64 connections.
WARM_UP_SECONDS = 0.2
UNITS = 20


class ReadYourWritesProbe(threading.Thread):
    """One client beside the load: completes a unit of its own, then reads that learner's
    progress with the position the command answered as `min_position`, one at a time. A
    sample is the time from the command's answer to the read's; one still in flight when
    the load ends is dropped (its read met an idle server)."""

    def __init__(self, server: Server, enrollments: list[Enrollment], body: str) -> None:
        super().__init__(name="read-your-writes-probe", daemon=True)
        self.server = server
        self.enrollments = enrollments
        self.body = body
        self.load_ended = threading.Event()
        self.freshness: list[float] = []
        self.commands: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._probe()
        except BaseException as error:  # reported by finish(), in the bench's thread
            self.error = error

    def finish(self) -> dict[str, Any]:
        self.load_ended.set()
        self.join()
        if self.error is not None:
            raise RuntimeError("the read-your-writes probe failed") from self.error
        command = percentiles(self.commands)
        return {
            **percentiles(self.freshness),
            "command_p50_ms": command["p50_ms"],
            "command_p99_ms": command["p99_ms"],
        }

    def _probe(self) -> None:
        if self.load_ended.wait(WARM_UP_SECONDS):
            return
        with httpx.Client(base_url=self.server.url, timeout=60) as client:
            # Every (enrollment, unit) once, so each command appends an event.
            for unit in range(UNITS):
                for enrollment in self.enrollments:
                    if self.load_ended.is_set():
                        return
                    self._sample(client, enrollment, f"{enrollment.course_id}-u{unit}")

    def _sample(self, client: httpx.Client, enrollment: Enrollment, unit: str) -> None:
        sent = time.perf_counter()
        response = client.post(
            f"/v1/enrollments/{enrollment.id}/units/{unit}/completion",
            content=self.body,
            headers={"Content-Type": "application/json"},
        )
        answered = time.perf_counter()
        response.raise_for_status()
        position = response.json()["position"]
        read = client.get(
            f"/v1/learners/{enrollment.learner_id}/courses/{enrollment.course_id}/progress",
            params={"min_position": position},
        )
        read_answered = time.perf_counter()
        read.raise_for_status()
        if read.json()["projection_position"] < position:
            raise AssertionError(f"a read with min_position={position} answered from before it")
        if not self.load_ended.is_set():
            self.commands.append(answered - sent)
            self.freshness.append(read_answered - answered)


def under_load(
    server: Server,
    projector: Process,
    settings: Settings,
    load: Callable[[], dict[str, Any]],
    probed: list[Enrollment],
    body: str,
) -> dict[str, Any]:
    """Runs `load` (wrk's 64 connections of completions) with the probe beside it; from the
    projector caught up before to caught up after, counts its CPU (/proc) and the events it
    applied meanwhile."""
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        before = caught_up(connection, settings, head_position(connection, settings))
        cpu_before = projector.cpu_seconds()
        probe = ReadYourWritesProbe(server, probed, body)
        probe.start()
        try:
            figures = load()
        finally:
            freshness = probe.finish()
        after = caught_up(connection, settings, head_position(connection, settings))
        cpu = projector.cpu_seconds() - cpu_before
        events = events_between(connection, settings, before, after)
    return {
        **figures,
        "freshness": freshness,
        "projector": {
            "events": events,
            "cpu_seconds": cpu,
            "cpu_us_per_event": cpu / max(events, 1) * 1e6,
        },
    }
