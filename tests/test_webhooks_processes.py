"""Several delivering processes on one PostgreSQL database: three `progress-ledger deliver`
processes share three webhooks while completions keep coming, and each receiver gets each of
its events once, in log order."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bootstrap import Settings
from tests.deadlines import DEADLINE, wait_until
from tests.forked_processes import ForkedProcess
from tests.http_helpers import call, progress
from tests.processes import start_cli, stop
from tests.test_webhooks import (
    ALL_TYPES,
    attempts,
    complete,
    course,
    enroll,
    receiver,
    receivers,  # noqa: F401 (a fixture)
    serve,
    subscribe,
)
from tests.webhook_receiver import Receiver

LEARNERS, UNITS = 8, 20


@pytest.fixture
def postgres_settings_projecting(postgres_settings: Settings) -> Settings:
    return postgres_settings.model_copy(update={"embedded_projection": True})


def up_or_gone(process: ForkedProcess, log: Path) -> Callable[[], bool]:
    return lambda: process.poll() is not None or "delivering webhooks" in log.read_text()


@pytest.fixture
def three_deliverers(
    postgres_settings_projecting: Settings, tmp_path: Path
) -> Iterator[list[ForkedProcess]]:
    # One webhook at a time each, so the three webhooks are spread over the processes and
    # a webhook passes from one to another (after 100 deliveries, or when its queue empties).
    # A small pool each: the database is shared with other tests. The default timeout (10 s):
    # a receiver slowed by a busy machine is not a failed attempt here.
    env = {"LEDGER_WEBHOOK_CONCURRENCY": "1", "LEDGER_DATABASE_POOL_SIZE": "2"}
    logs = [tmp_path / f"deliver-{n}.log" for n in range(3)]
    started = [
        start_cli(postgres_settings_projecting, log, "deliver", extra_env=env) for log in logs
    ]
    for process, log in zip(started, logs, strict=True):
        wait_until(up_or_gone(process, log), f"{log.name} to start")
        assert process.poll() is None, log.read_text()
    yield started
    for process in started:
        stop(process)


def every_delivery(client: httpx.Client, webhook: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = call(
        client, "GET", f"/v1/webhooks/{webhook}/deliveries", params={"limit": 1000}
    )["deliveries"]
    return found


def delivered_all(client: httpx.Client, webhook: str, count: int) -> Callable[[], bool]:
    def delivered() -> bool:
        found = every_delivery(client, webhook)
        return len(found) == count and all(d["status"] == "delivered" for d in found)

    return delivered


def test_three_deliver_processes_send_each_event_once_in_log_order(
    postgres_settings_projecting: Settings,
    tmp_path: Path,
    receivers: list[Receiver],  # noqa: F811
    three_deliverers: list[ForkedProcess],
) -> None:
    wanted = {
        "everything": ALL_TYPES,
        "completions": ["unit.completed"],
        "courses": ["course.progressed", "course.completed"],
    }
    hooks = {name: receiver(receivers) for name in wanted}
    with (
        serve(postgres_settings_projecting, tmp_path, LEDGER_DELIVER_WEBHOOKS="false") as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        webhooks = {name: subscribe(client, hooks[name].url, wanted[name]) for name in wanted}
        course(client, "c1", UNITS)
        enrollments = [enroll(client, f"learner-{n}", "c1") for n in range(LEARNERS)]
        positions: list[int] = []

        def load(enrollment: str) -> None:
            with httpx.Client(base_url=server.url, timeout=DEADLINE) as own:
                for n in range(1, UNITS + 1):
                    positions.append(complete(own, enrollment, f"u{n}"))

        loaders = [threading.Thread(target=load, args=(e,)) for e in enrollments]
        for loader in loaders:
            loader.start()
        for loader in loaders:
            loader.join(timeout=DEADLINE)
        assert len(positions) == LEARNERS * UNITS
        # Every outbox row is written with the projection's: once it has applied the last
        # completion, each webhook's deliveries are all there.
        progress(client, "learner-0", "c1", max(positions))
        records = {name: every_delivery(client, webhooks[name][0]) for name in wanted}
        completions = LEARNERS * UNITS
        assert [len(records[name]) for name in wanted] == [
            2 * completions + LEARNERS,
            completions,
            completions + LEARNERS,
        ]
        for name, (webhook, _) in webhooks.items():
            wait_until(delivered_all(client, webhook, len(records[name])), f"{name}'s deliveries")

        workers: set[str] = set()
        for name, (webhook, secret) in webhooks.items():
            received = hooks[name].requests
            duplicates = {
                message: count
                for message, count in Counter(r.headers["webhook-id"] for r in received).items()
                if count > 1
            }
            assert duplicates == {}, f"{name} received these more than once"
            events = [r.verified(secret) for r in received]
            # In log order: the order the outbox numbered them in, positions never going back.
            assert [e["id"] for e in events] == [d["event_id"] for d in records[name]]
            assert [e["position"] for e in events] == sorted(e["position"] for e in events)
            done = every_delivery(client, webhook)
            assert {d["attempts"] for d in done} == {1}
            workers |= {
                attempt["worker"]
                for d in done[:: max(1, len(done) // 20)]
                for attempt in attempts(client, webhook, d["delivery_id"])
            }
        # The work was shared: more than one process delivered.
        assert len(workers) >= 2, workers
        assert all(process.poll() is None for process in three_deliverers)
