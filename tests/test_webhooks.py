"""Webhooks out, end to end: a real server (and a real `deliver` process) on each database,
real HTTP receivers on loopback, signatures checked with the Standard Webhooks library."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bootstrap import LedgerServices, Settings
from projections.engine import ProjectionEngine
from tests.conftest import Server, free_port
from tests.deadlines import DEADLINE, wait_until
from tests.http_helpers import assert_problem, call, path, progress
from tests.processes import start_cli, stop
from tests.test_parking import register_the_fix, store_unappliable_completion
from tests.webhook_receiver import Receiver

ALL_TYPES = [
    "unit.completed",
    "unit.revoked",
    "course.completed",
    "course.progressed",
    "enrollment.withdrawn",
    "learner.erased",
]
# Retries come quickly and a hanging receiver is given up on soon, so the tests stay short.
QUICK_RETRIES = {"LEDGER_WEBHOOK_BACKOFF_SECONDS": "0.05", "LEDGER_WEBHOOK_TIMEOUT_SECONDS": "2"}


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Receivers made in a test; each is closed (and a hanging one released) after it."""
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def receiver(receivers: list[Receiver], **options: Any) -> Receiver:
    made = Receiver(**options)
    receivers.append(made)
    return made


def serve(settings: Settings, tmp_path: Path, **env: str) -> Server:
    return Server(settings, tmp_path / "server.log", {**QUICK_RETRIES, **env})


def subscribe(client: httpx.Client, url: str, types: list[str]) -> tuple[str, str]:
    created = call(client, "POST", "/v1/webhooks", {"url": url, "event_types": types}, expect=201)
    return created["id"], created["secret"]


def deliveries(client: httpx.Client, webhook: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = call(client, "GET", f"/v1/webhooks/{webhook}/deliveries")[
        "deliveries"
    ]
    return found


def attempts(
    client: httpx.Client, webhook: str, delivery_id: int, **params: int
) -> list[dict[str, Any]]:
    url = f"/v1/webhooks/{webhook}/deliveries/{delivery_id}/attempts"
    found: list[dict[str, Any]] = call(client, "GET", url, params=params)["attempts"]
    return found


def all_delivered(client: httpx.Client, webhook: str, count: int) -> bool:
    found = deliveries(client, webhook)
    return len(found) == count and all(d["status"] == "delivered" for d in found)


def course(client: httpx.Client, course_id: str, units: int) -> None:
    body = {
        "course_id": course_id,
        "title": "Course",
        "units": [{"unit_id": f"u{n}"} for n in range(1, units + 1)],
    }
    call(client, "POST", "/v1/courses", body, expect=201)


def enroll(client: httpx.Client, learner: str, course_id: str) -> str:
    body = {"learner_id": learner, "course_id": course_id}
    enrollment: str = call(client, "POST", "/v1/enrollments", body, expect=201)["enrollment_id"]
    return enrollment


def complete(client: httpx.Client, enrollment: str, unit: str) -> int:
    url = path("v1", "enrollments", enrollment, "units", unit, "completion")
    response = client.post(url)
    assert response.status_code in (200, 201), response.text
    position: int = response.json()["position"]
    return position


def webhook_samples(client: httpx.Client) -> dict[tuple[str, ...], float]:
    """The webhook gauges of a scrape, by (name, webhook[, status])."""
    scraped = client.get("/metrics")
    assert scraped.status_code == 200, scraped.text
    return {
        (
            sample.name,
            *(sample.labels[k] for k in ("webhook", "status") if k in sample.labels),
        ): sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.name.startswith("ledger_webhook_")
    }


def in_order_without_repeats(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events as received, a retried one counted once (retries come one after another)."""
    events: list[dict[str, Any]] = []
    for event in received:
        if not events or events[-1]["id"] != event["id"]:
            events.append(event)
    return events


def test_signed_cloudevents_in_log_order_retried_and_redelivered(
    settings: Settings, tmp_path: Path, receivers: list[Receiver]
) -> None:
    flaky = receiver(receivers, fail_first=2)
    steady = receiver(receivers)
    with (
        serve(settings, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        everything, secret = subscribe(client, flaky.url, ALL_TYPES)
        completions, _ = subscribe(client, steady.url, ["unit.completed"])
        course(client, "c1", 2)
        enrollment = enroll(client, "ada", "c1")
        complete(client, enrollment, "u1")
        complete(client, enrollment, "u2")
        call(client, "DELETE", path("v1", "enrollments", enrollment, "units", "u2", "completion"))
        call(client, "POST", path("v1", "enrollments", enrollment, "withdrawal"))

        wait_until(lambda: all_delivered(client, everything, 8), "8 deliveries to the flaky one")
        events = [r.verified(secret) for r in flaky.requests]
        assert len(flaky.requests) == 10  # the first event failed twice, then went through
        assert {r.headers["webhook-id"] for r in flaky.requests[:3]} == {
            flaky.requests[0].headers["webhook-id"]
        }
        assert flaky.requests[0].headers["content-type"].startswith("application/cloudevents+json")
        ordered = in_order_without_repeats(events)
        assert [
            (e["type"], e["data"].get("unit_id"), e["data"].get("percentage")) for e in ordered
        ] == [
            ("unit.completed", "u1", None),
            ("course.progressed", None, 50.0),
            ("unit.completed", "u2", None),
            ("course.progressed", None, 100.0),
            ("course.completed", None, 100.0),
            ("unit.revoked", "u2", None),
            ("course.progressed", None, 50.0),
            ("enrollment.withdrawn", None, None),
        ]
        positions = [e["position"] for e in ordered]
        assert positions == sorted(positions)
        first = ordered[0]
        assert first["specversion"] == "1.0"
        assert first["subject"] == f"enrollments/{enrollment}"
        assert first["data"]["learner_id"] == "ada" and first["data"]["course_id"] == "c1"
        assert len({e["id"] for e in ordered}) == 8

        records = deliveries(client, everything)
        assert [d["attempts"] for d in records] == [3, 1, 1, 1, 1, 1, 1, 1]
        assert records[0]["event_id"] == first["id"]
        # Each attempt has a record: two 500s, then the 204; when, how long, by whom.
        tried = attempts(client, everything, records[0]["delivery_id"])
        assert [(a["status"], a["error"]) for a in tried] == [
            (500, "HTTP 500"),
            (500, "HTTP 500"),
            (204, None),
        ]
        assert all(a["duration_ms"] >= 0 and a["worker"].startswith("deliverer-") for a in tried)
        times = [datetime.fromisoformat(a["attempted_at"]) for a in tried]
        assert times == sorted(times)
        assert times[-1] <= datetime.fromisoformat(records[0]["delivered_at"])
        paged = attempts(client, everything, records[0]["delivery_id"], limit=2)
        rest = attempts(
            client, everything, records[0]["delivery_id"], after=paged[-1]["attempt_id"]
        )
        assert paged + rest == tried
        assert [len(attempts(client, everything, d["delivery_id"])) for d in records[1:]] == [1] * 7
        wait_until(lambda: all_delivered(client, completions, 2), "2 unit.completed deliveries")
        assert [e["data"]["unit_id"] for e in steady.events()] == ["u1", "u2"]

        # Redelivery: the same event, same webhook-id, one record still.
        redelivered = records[0]["delivery_id"]
        client.post(f"/v1/webhooks/{everything}/deliveries/{redelivered}/redeliver")
        wait_until(lambda: len(flaky.requests) == 11, "the redelivery")
        again = flaky.requests[-1]
        assert again.verified(secret)["id"] == first["id"]
        assert again.headers["webhook-id"] == flaky.requests[0].headers["webhook-id"]
        wait_until(lambda: all_delivered(client, everything, 8), "the redelivery recorded")
        assert deliveries(client, everything)[0]["attempts"] == 4
        retried = attempts(client, everything, redelivered)
        assert retried[:3] == tried and retried[3]["status"] == 204
        # An attempt keeps no body sent or answered: nothing in it names the learner.
        assert "ada" not in str([attempts(client, everything, d["delivery_id"]) for d in records])

        # Erasure: receivers hear of it, by enrollment only; the rows naming her are gone.
        call(client, "DELETE", path("v1", "learners", "ada"))
        wait_until(lambda: len(flaky.requests) == 12, "learner.erased")
        erased = flaky.requests[-1].verified(secret)
        assert erased["type"] == "learner.erased"
        assert erased["data"] == {"enrollment_id": enrollment, "course_id": "c1"}
        assert "ada" not in flaky.requests[-1].body.decode()
        assert [d["event_type"] for d in deliveries(client, everything)] == ["learner.erased"]
        gone = client.get(f"/v1/webhooks/{everything}/deliveries/{redelivered}/attempts")
        assert_problem(gone, 404, "delivery_id")  # its attempts went with it
        kept = deliveries(client, everything)[0]["delivery_id"]
        assert [a["status"] for a in attempts(client, everything, kept)] == [204]


def test_dead_and_hanging_receivers_hold_up_no_one(
    settings: Settings, tmp_path: Path, receivers: list[Receiver]
) -> None:
    hanging = receiver(receivers, hang=True)
    healthy = receiver(receivers)
    dead_url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    units = 30
    with (
        serve(settings, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        dead, _ = subscribe(client, dead_url, ["unit.completed"])
        hung, _ = subscribe(client, hanging.url, ["unit.completed"])
        fine, secret = subscribe(client, healthy.url, ["unit.completed"])
        course(client, "c1", units)
        enrollment = enroll(client, "bo", "c1")
        hanging_before = 0
        positions = []
        for n in range(1, units + 1):
            positions.append(complete(client, enrollment, f"u{n}"))
            if n == 1:
                hanging.wait_for(1)  # from here on a delivery hangs while commands go on
                hanging_before = len(hanging.requests)
        # Every command was answered and the projection applied them all while one receiver
        # held its request and another refused connections.
        assert progress(client, "bo", "c1", positions[-1])["percentage"] == 100.0
        wait_until(lambda: all_delivered(client, fine, units), "the healthy receiver's events")
        received = [r.verified(secret) for r in healthy.requests]
        assert [e["position"] for e in received] == positions
        assert not hanging.released.is_set() and hanging_before >= 1
        for stuck in (dead, hung):
            records = deliveries(client, stuck)
            assert len(records) == units
            assert not any(d["status"] == "delivered" for d in records)
            # In log order: nothing after the first is tried while the first is not through.
            assert all(d["attempts"] == 0 for d in records[1:])
        wait_until(lambda: deliveries(client, dead)[0]["attempts"] >= 2, "a retry of the dead")
        assert deliveries(client, dead)[0]["last_error"]
        # The operator sees the same in /metrics: the stuck webhooks' queues and lag.
        health = webhook_samples(client)
        assert health["ledger_webhook_queue_depth", fine] == 0
        assert health["ledger_webhook_lag_events", fine] == 0
        assert health["ledger_webhook_deliveries", fine, "delivered"] == units
        for stuck in (dead, hung):
            assert health["ledger_webhook_queue_depth", stuck] == units
            assert health["ledger_webhook_deliveries", stuck, "pending"] == units
            assert health["ledger_webhook_lag_events", stuck] >= units - 1
        assert health["ledger_webhook_attempts", dead] >= 2
        # And on the operations page's document.
        shown = {w["id"]: w for w in call(client, "GET", "/operations/status.json")["webhooks"]}
        assert shown[dead]["pending"] == units and shown[fine]["pending"] == 0


def test_rebuilds_send_nothing(
    settings: Settings, tmp_path: Path, receivers: list[Receiver]
) -> None:
    hook = receiver(receivers)
    with (
        serve(settings, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        webhook, _ = subscribe(client, hook.url, ["unit.completed", "course.progressed"])
        course(client, "c1", 4)
        enrollment = enroll(client, "cy", "c1")
        complete(client, enrollment, "u1")
        complete(client, enrollment, "u2")
        wait_until(lambda: all_delivered(client, webhook, 4), "4 deliveries")
        rebuilds = "/v1/projections/course_progress/rebuilds"
        number = call(client, "POST", rebuilds, {"rules": "units-v1"}, expect=202)["generation"]
        wait_until(
            lambda: client.get(f"{rebuilds}/{number}").json()["status"] == "live", "the switch"
        )
        complete(client, enrollment, "u3")
        wait_until(lambda: all_delivered(client, webhook, 6), "the new events' deliveries")
        ids = [e["id"] for e in hook.events()]
        assert len(ids) == 6 and len(set(ids)) == 6
        assert [
            e["data"].get("unit_id") for e in hook.events() if e["type"] == "unit.completed"
        ] == [
            "u1",
            "u2",
            "u3",
        ]


def test_no_event_is_missed_across_a_rebuild_switch_under_load(
    settings: Settings, tmp_path: Path, receivers: list[Receiver]
) -> None:
    """Completions keep coming while a rebuild catches up and switches: the live projection
    feeds the outbox before the switch and the new live generation after it, and not one
    completion falls between the two."""
    hook = receiver(receivers)
    learners, units = 4, 60
    with (
        serve(settings, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        webhook, _ = subscribe(client, hook.url, ["unit.completed"])
        course(client, "c1", units)
        enrollments = [enroll(client, f"learner-{n}", "c1") for n in range(learners)]
        positions: list[int] = []
        rebuilds = "/v1/projections/course_progress/rebuilds"

        def load(enrollment: str) -> None:
            with httpx.Client(base_url=server.url, timeout=DEADLINE) as own:
                for n in range(1, units + 1):
                    positions.append(complete(own, enrollment, f"u{n}"))

        loaders = [threading.Thread(target=load, args=(e,)) for e in enrollments]
        for loader in loaders:
            loader.start()
        wait_until(lambda: len(positions) >= 20, "the load to start")
        number = call(client, "POST", rebuilds, {"rules": "units-v1"}, expect=202)["generation"]
        wait_until(
            lambda: client.get(f"{rebuilds}/{number}").json()["status"] == "live", "the switch"
        )
        for loader in loaders:
            loader.join(timeout=DEADLINE)
        assert len(positions) == learners * units
        # The outbox rows are written with the projection's: once the live generation has
        # applied the last completion, every row it will ever get is there; then none waits.
        progress(client, "learner-0", "c1", max(positions))
        wait_until(
            lambda: webhook_samples(client)["ledger_webhook_queue_depth", webhook] == 0,
            "the webhook's queue to empty",
        )
        delivered = sorted(e["position"] for e in hook.events())
        assert set(positions) - set(delivered) == set()
        assert len(set(delivered)) == learners * units


def test_one_record_per_event_after_the_deliverer_is_killed(
    settings: Settings, tmp_path: Path, receivers: list[Receiver]
) -> None:
    hanging = receiver(receivers, hang=True)
    slow = {"LEDGER_WEBHOOK_TIMEOUT_SECONDS": "3"}
    with (
        serve(settings, tmp_path, LEDGER_DELIVER_WEBHOOKS="false", **slow) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        webhook, secret = subscribe(client, hanging.url, ["unit.completed"])
        course(client, "c1", 2)
        enrollment = enroll(client, "di", "c1")
        complete(client, enrollment, "u1")
        complete(client, enrollment, "u2")
        log = tmp_path / "deliver.log"
        env = {**QUICK_RETRIES, **slow}
        first = start_cli(settings, log, "deliver", extra_env=env)
        hanging.wait_for(1)
        first.kill()  # mid-send: the lease it holds expires, its row stays
        first.wait(DEADLINE)
        hanging.released.set()
        second = start_cli(settings, log, "deliver", extra_env=env)
        try:
            wait_until(lambda: all_delivered(client, webhook, 2), "both delivered")
        finally:
            stop(second)
        events = [r.verified(secret) for r in hanging.requests]
        assert [e["data"]["unit_id"] for e in in_order_without_repeats(events)] == ["u1", "u2"]
        assert [e["data"]["unit_id"] for e in events].count("u1") >= 2  # at least once
        assert len({r.headers["webhook-id"] for r in hanging.requests}) == 2
        records = deliveries(client, webhook)
        assert len(records) == 2
        # The attempt the killed worker made is on record, with no outcome; the next one,
        # by the second process, went through.
        tried = attempts(client, webhook, records[0]["delivery_id"])
        assert len(tried) == records[0]["attempts"] >= 2
        assert tried[-1]["status"] == 204 and tried[-1]["worker"] != tried[0]["worker"]
        cut_off = [a for a in tried if a["worker"] == tried[0]["worker"]][-1]
        assert (cut_off["status"], cut_off["error"], cut_off["duration_ms"]) == (None, None, None)


def test_subscriptions_are_checked_listed_and_deleted(
    settings: Settings, tmp_path: Path, receivers: list[Receiver]
) -> None:
    hook = receiver(receivers)
    with (
        serve(settings, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        bad_type = client.post("/v1/webhooks", json={"url": hook.url, "event_types": ["x"]})
        assert_problem(bad_type, 422, "event_types[0]")
        bad_secret = {"url": hook.url, "event_types": ["unit.completed"], "secret": "hunter2"}
        assert_problem(client.post("/v1/webhooks", json=bad_secret), 422, "secret")
        bad_url = {"url": "ftp://x", "event_types": ["unit.completed"]}
        assert_problem(client.post("/v1/webhooks", json=bad_url), 422, "url")
        assert call(client, "GET", "/v1/webhooks")["webhooks"] == []

        webhook, secret = subscribe(client, hook.url, ["unit.completed"])
        listed = call(client, "GET", "/v1/webhooks")["webhooks"]
        assert [w["id"] for w in listed] == [webhook] and "secret" not in listed[0]
        assert secret.startswith("whsec_")
        assert client.delete(f"/v1/webhooks/{webhook}").status_code == 204
        assert_problem(client.get(f"/v1/webhooks/{webhook}"), 404, "subscription_id")
        course(client, "c1", 1)
        position = complete(client, enroll(client, "ed", "c1"), "u1")
        progress(client, "ed", "c1", position)
        assert hook.requests == []


def test_a_parked_event_is_sent_once_when_a_retry_applies_it_after_later_events(
    services: LedgerServices,
    settings: Settings,
    tmp_path: Path,
    receivers: list[Receiver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A parked event holds its stream only: the other learners' events go out meanwhile,
    and the parked one (with its stream's events held behind it, still in their order) goes
    out once, when `projections retry` applies it, after events later in the log."""
    hook = receiver(receivers)
    with (
        serve(settings, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        webhook, secret = subscribe(client, hook.url, ["unit.completed"])
        course(client, "c1", 4)
        bad, good = enroll(client, "bad", "c1"), enroll(client, "good", "c1")
        complete(client, bad, "u1")
        store_unappliable_completion(services, UUID(bad))  # bad's u2, parked
        held = complete(client, bad, "u4")  # parked behind it
        later = complete(client, good, "u2")
        progress(client, "good", "c1", later)
        assert len(call(client, "GET", "/v1/projections/parked")["parked"]) == 2
        wait_until(lambda: all_delivered(client, webhook, 2), "the two applied completions")

        # The fix is deployed; a retry (as `projections retry` runs it) applies both.
        register_the_fix(monkeypatch)
        fixed = ProjectionEngine(
            services.ledger.recorder, services.ledger.mapper, services.generations
        )
        assert fixed.retry(services.generations.live().number) == (2, 0)
        wait_until(lambda: all_delivered(client, webhook, 4), "the retried completions")

        events = [r.verified(secret) for r in hook.requests]
        assert [(e["subject"], e["data"]["unit_id"]) for e in events] == [
            (f"enrollments/{bad}", "u1"),
            (f"enrollments/{good}", "u2"),  # later in the log than bad's u2
            (f"enrollments/{bad}", "u2"),
            (f"enrollments/{bad}", "u4"),
        ]
        positions = [e["position"] for e in events]
        assert positions[2] < positions[1] and positions[3] == held
        assert len({e["id"] for e in events}) == 4  # each sent once
        assert [d["attempts"] for d in deliveries(client, webhook)] == [1, 1, 1, 1]
