"""`/metrics`: a real server scraped after real commands, as Prometheus would scrape it.

The counts must match what was sent, requests are counted by route template (never a raw
id), the rules of access hold, among several workers every worker's counts add up, and
every metric the shipped Grafana dashboard queries is exported.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.access import new_key
from bootstrap import Settings, bootstrap
from tests.conftest import ROOT, Server
from tests.deadlines import DEADLINE, wait_until
from tests.factories import new_id
from tests.http_helpers import course_body, head, path, progress
from tests.test_workers import two_worker_processes_answer

COMPLETION_ROUTE = "/v1/enrollments/{enrollment_id}/units/{unit_id}/completion"
DASHBOARD = ROOT / "docs" / "grafana" / "progress-ledger.json"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client, headers: dict[str, str] | None = None) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def send_commands(client: httpx.Client, learners: int) -> tuple[str, list[str]]:
    """A course, `learners` enrollments, a completion each and a repeat of the first (which
    appends nothing), and one completion of a unit the course lacks (refused)."""
    course = new_id("course")
    assert client.post("/v1/courses", json=course_body(course)).status_code == 201
    enrollments = []
    for number in range(learners):
        enrolled = client.post(
            "/v1/enrollments", json={"learner_id": f"learner-{number}", "course_id": course}
        )
        assert enrolled.status_code == 201, enrolled.text
        enrollments.append(enrolled.json()["enrollment_id"])
    for enrollment in [*enrollments, enrollments[0]]:
        done = client.post(path("v1", "enrollments", enrollment, "units", "u2", "completion"))
        assert done.status_code == 200, done.text
    refused = client.post(path("v1", "enrollments", enrollments[0], "units", "nope", "completion"))
    assert 400 <= refused.status_code < 500, refused.text
    return course, enrollments


def test_a_scrape_counts_what_was_sent_by_route_template(
    settings: Settings, tmp_path: Path
) -> None:
    with (
        Server(settings, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        course, enrollments = send_commands(client, learners=4)
        position = head(client)
        progress(client, "learner-0", course, position)  # the projection has applied it all
        samples = scrape(client)

    completions = value(
        samples, "ledger_http_requests_total", method="POST", route=COMPLETION_ROUTE, status="200"
    )
    assert completions == 5
    histogram = "ledger_http_request_duration_seconds_count"
    assert value(samples, histogram, method="POST", route=COMPLETION_ROUTE) == 6
    # Course, 4 enrollments, 4 completions appended; the repeat had nothing to append.
    assert value(samples, "ledger_commands_total", outcome="appended") == 9
    assert value(samples, "ledger_commands_total", outcome="unchanged") == 1
    assert value(samples, "ledger_commands_total", outcome="refused") == 1
    # Every event of this new database came through this server's committer.
    assert value(samples, "ledger_events_appended_total") == position
    assert value(samples, "ledger_log_head_position") == position
    assert value(samples, "ledger_projection_position", generation="1") == position
    assert value(samples, "ledger_projection_lag_events", generation="1") == 0
    assert value(samples, "ledger_projection_parked_events", generation="1") == 0
    assert value(samples, "ledger_database_up") == 1
    assert 1 <= value(samples, "ledger_commit_batch_commands_count") <= 11
    assert value(samples, "ledger_commit_batch_commands_sum") <= 11
    # Templates only: no id the requests carried is a label.
    labels = {v for _, pairs in samples for _, v in pairs}
    assert not labels & {*enrollments, course, "learner-0"}
    assert "/v1/learners/{learner_id}/courses/{course_id}/progress" in labels


def test_metrics_need_a_read_key_unless_opened(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    reader, reader_line = new_key("scraper", {"read"})
    writer, writer_line = new_key("writer", {"write"})
    keys = {"LEDGER_API_KEYS": f"{reader_line};{writer_line}"}
    with (
        Server(settings, tmp_path / "server.log", extra_env=keys) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer(writer)).status_code == 403
        assert client.get("/metrics", headers=bearer("pl_unknown")).status_code == 401
        counted = scrape(client, bearer(reader))
        assert value(counted, "ledger_database_up") == 1
        # The refusals were counted too, under the route they asked for.
        refused = value(
            counted, "ledger_http_requests_total", method="GET", route="/metrics", status="401"
        )
        assert refused == 2
    opened = {**keys, "LEDGER_METRICS_OPEN": "true"}
    with (
        Server(settings, tmp_path / "open.log", extra_env=opened) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        assert value(scrape(client), "ledger_database_up") == 1
        assert client.get("/readyz").status_code == 200
        assert client.get("/v1/courses/any").status_code == 401  # only /metrics is opened


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_two_workers_add_up_and_a_dead_workers_gauges_go(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with Server(settings, log, extra_env={"LEDGER_WORKERS": "2"}) as server:
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
            course, _ = send_commands(client, learners=2)
        assert two_worker_processes_answer(server)
        # More completions, each on a connection of its own: both workers take some.
        learners = [f"many-{number}" for number in range(12)]
        with ThreadPoolExecutor(4) as pool:
            answered = set(pool.map(lambda learner: complete(server, course, learner), learners))
        assert len(answered) == 2, "both workers took commands"
        expected = 2 + 1 + len(learners)  # the first two and the repeat, then the many
        kept = re.findall(r"metrics of the 2 workers are kept in (\S+)", log.read_text())
        directory = Path(kept[0])
        assert directory.is_dir()

        def counted_by_every_worker() -> bool:
            # Whichever worker answers the scrape, the counts are every worker's.
            totals = {total_completions(fresh_scrape(server)) for _ in range(6)}
            return totals == {expected}

        wait_until(counted_by_every_worker, "every worker's completions in every scrape")
        per_worker = value(fresh_scrape(server), "ledger_db_pool_max_connections", pool="store")
        assert per_worker > 0

        def pools_of_two_workers() -> bool:
            scraped = fresh_scrape(server)
            return value(scraped, "ledger_db_pool_max_connections", pool="store") == 2 * (
                settings.database_pool_size * 2
            )

        wait_until(pools_of_two_workers, "both workers' pools in the gauges")
        victim = next(iter(answered))
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: victim_gone_and_two_answer(server, victim), "a worker in its place")
        wait_until(pools_of_two_workers, "the dead worker's pools gone from the gauges")
        assert total_completions(fresh_scrape(server)) == expected  # its counts stay
    assert not directory.exists()


def complete(server: Server, course: str, learner: str) -> int:
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as fresh:
        enrolled = fresh.post("/v1/enrollments", json={"learner_id": learner, "course_id": course})
        enrollment = enrolled.json()["enrollment_id"]
        done = fresh.post(path("v1", "enrollments", enrollment, "units", "u2", "completion"))
        assert done.status_code == 200, done.text
        return int(fresh.get("/healthz").json()["process"])


def fresh_scrape(server: Server) -> Samples:
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as fresh:
        return scrape(fresh)


def total_completions(samples: Samples) -> float:
    return value(
        samples, "ledger_http_requests_total", method="POST", route=COMPLETION_ROUTE, status="200"
    )


def victim_gone_and_two_answer(server: Server, victim: int) -> bool:
    answered = set()
    for _ in range(8):
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as fresh:
            answered.add(int(fresh.get("/healthz").json()["process"]))
    return victim not in answered and len(answered) == 2


def dashboard_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"]
        for panel in panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]
    assert expressions, "the dashboard queries something"
    return {name for expr in expressions for name in re.findall(r"\bledger_[a-z0-9_]+", expr)}


def panels(listed: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in listed:
        yield panel
        inner = panel.get("panels")
        if isinstance(inner, list):
            yield from panels(inner)


def test_every_metric_the_dashboard_queries_is_exported(settings: Settings, tmp_path: Path) -> None:
    # A rebuild under way (as one that died would leave it): its progress is exported.
    services = bootstrap(settings)
    try:
        services.generations.create("units-v1")
    finally:
        services.close()
    with (
        Server(settings, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        # A webhook (nobody listens at its URL): its health is exported.
        webhook = {"url": "http://127.0.0.1:9/nobody", "event_types": ["unit.completed"]}
        assert client.post("/v1/webhooks", json=webhook).status_code == 201
        send_commands(client, learners=1)
        exported = {name for name, _ in scrape(client)}
    wanted = dashboard_metrics()
    if not settings.database_url.startswith("postgresql"):
        wanted = {name for name in wanted if not name.startswith("ledger_db_pool_")}
    assert wanted - exported == set()
    assert "ledger_rebuild_progress_ratio" in wanted
    assert "ledger_webhook_queue_depth" in wanted
    assert "ledger_http_request_duration_seconds_bucket" in wanted
