"""The roster page against the JSON roster it shares its read with: one course of many
learners (100,000 in the full run), 100 learners a page, each read in turn by one client
over the same time, side by side. The target: the page renders at no less than half the
JSON's rate (issue 13). `python -m bench.roster_page --learners N` runs it alone."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.data import EPOCH
from bench.servers import Server, environment
from bootstrap import Settings, bootstrap
from domain.course import Course, Unit
from domain.enrollment import Enrollment

COURSE = "roster-bench"
UNITS = 10
PAGE = 100
CHUNK = 1000


def seed(settings: Settings, learners: int) -> int:
    """One course of `learners`; learner i has completed i % 11 of its 10 units."""
    services = bootstrap(settings)
    try:
        ledger = services.ledger
        units = [Unit(f"u{index}", f"Unit {index}") for index in range(UNITS)]
        course = Course.create(COURSE, "Roster bench", units)
        ledger.save(course)
        for start in range(0, learners, CHUNK):
            indexes = range(start, min(start + CHUNK, learners))
            pairs = [(f"learner-{index:06d}", COURSE) for index in indexes]
            keys = ledger.learner_keys().enroll(pairs)
            pending = []
            for index in indexes:
                key = keys[f"learner-{index:06d}"]
                enrolled = Enrollment(
                    id=key.enrollment_id(COURSE), learner_id=key.learner_id, course_id=COURSE
                )
                for unit in units[: index % 11]:
                    enrolled.complete_unit(unit, EPOCH)
                pending.append(enrolled)
            ledger.save(*pending)
        return ledger.head_position()
    finally:
        services.close()


def wait_projected(server: Server, head: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.url}/readyz", timeout=30).json()
        if answer["projection"]["position"] >= head:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the projection did not reach {head} in {timeout:g}s")


def rate(client: httpx.Client, url: str, seconds: float) -> dict[str, Any]:
    """Sequential reads of `url` for `seconds`: reads per second and the median latency."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        answer = client.get(url)
        latencies.append(time.perf_counter() - began)
        if answer.status_code != 200:
            raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:200]}")
    latencies.sort()
    return {
        "reads": len(latencies),
        "per_second": round(len(latencies) / sum(latencies), 1),
        "median_ms": round(1000 * latencies[len(latencies) // 2], 2),
    }


def csv_export(client: httpx.Client, url: str) -> dict[str, Any]:
    """The whole roster as CSV (`Accept: text/csv`), streamed: rows per second."""
    started = time.perf_counter()
    lines = 0
    with client.stream("GET", url, headers={"Accept": "text/csv"}) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    rows = lines - 1  # the header
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_second": rows / seconds}


def roster_page_figures(settings: Settings, learners: int, seconds: float, log: Path) -> Any:
    head = seed(settings, learners)
    server = Server("api.main:app", environment(settings, embedded_projection=True), log, "/readyz")
    try:
        wait_projected(server, head)
        json_url = f"/v1/courses/{COURSE}/progress?limit={PAGE}"
        page_url = f"/courses/{COURSE}?limit={PAGE}"
        with httpx.Client(base_url=server.url, timeout=60) as client:
            rate(client, json_url, 1)  # warm both
            rate(client, page_url, 1)
            json_rate = rate(client, json_url, seconds)
            page_rate = rate(client, page_url, seconds)
            csv = csv_export(client, f"/v1/courses/{COURSE}/progress")
        return {
            "csv_export": csv,
            "learners": learners,
            "page_size": PAGE,
            "json_roster": json_rate,
            "roster_page": page_rate,
            "page_to_json": round(page_rate["per_second"] / json_rate["per_second"], 2),
            "target_page_to_json": 0.5,
        }
    finally:
        server.stop()


def drop_schema(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.roster_page", description=__doc__)
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-roster-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'roster.sqlite3'}"
        schema = f"bench_roster_{uuid.uuid4().hex[:8]}" if url.startswith("postgres") else ""
        settings = Settings(database_url=url, database_schema=schema)
        try:
            figures = roster_page_figures(settings, args.learners, args.seconds, Path(tmp) / "log")
        finally:
            if schema:
                drop_schema(settings)
    print(figures, file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
