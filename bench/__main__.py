"""`make bench` (`python -m bench [--quick]`): every figure side by side, in one run."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench.data import Shape, generate
from bench.erasure_timing import erasure
from bench.raw_limits import binary_copy, paged_scan
from bench.rebuild import peer, rebuild
from bench.report import print_table, targets
from bench.roster_page import roster_page_figures
from bench.web import Durations, web_figures
from bench.wrk import wrk_version
from bootstrap import Settings, bootstrap

RESULTS = Path(__file__).resolve().parent / "results.json"


@dataclass(frozen=True)
class Plan:
    name: str
    postgres_learners: int  # x 5 courses x 20 events = the rebuild's events
    sqlite_learners: int
    peer_events: int
    web: Durations


FULL = Plan("full", 10_000, 1_000, 10_000, Durations(15, 300, 10, 10_000))
QUICK = Plan("quick", 200, 100, 1_000, Durations(3, 40, 2, 5_000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run under a minute")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LEDGER_BENCH_DATABASE_URL")
        or os.environ.get("LEDGER_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk (make bench does)", file=sys.stderr)
        return 2
    plan = QUICK if args.quick else FULL
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        figures = run(plan, args.database_url, Path(tmp))
    results = {
        "date": started.isoformat(timespec="seconds"),
        "mode": plan.name,
        "machine": machine(),
        "versions": versions(args.database_url),
        "load_generator": "wrk (closed loop, 64 connections, 2 threads); "
        "bench.openloop (asyncio, own process) for the fixed-rate reads",
        "figures": figures,
        "targets": targets(figures),
    }
    args.output.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print_table(results)
    print(f"\nwritten to {args.output}", file=sys.stderr)
    return 0


def run(plan: Plan, database_url: str, workdir: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    rebuild_settings = postgres_settings(database_url, "rebuild")
    web_settings = postgres_settings(database_url, "web")
    roster_settings = postgres_settings(database_url, "roster")
    try:
        step(f"generating {Shape(plan.postgres_learners).events:,} events on PostgreSQL")
        head = seed(rebuild_settings, Shape(plan.postgres_learners))
        step("rebuild, half the log then all of it (RSS must not grow)")
        half = rebuild(rebuild_settings, until=head // 2)
        full = rebuild(rebuild_settings)
        step("its raw limit: a paged scan of the events table")
        scan = paged_scan(rebuild_settings)
        step(f"the library's ProjectionRunner on the first {plan.peer_events:,} events")
        runner = peer(rebuild_settings, plan.peer_events)
        figures["rebuild_postgres"] = {**full, "half": half, "peer": runner, "raw_scan": scan}

        sqlite_settings = Settings(database_url=f"sqlite:///{workdir / 'bench.sqlite3'}")
        step(f"generating {Shape(plan.sqlite_learners).events:,} events on SQLite")
        seed(sqlite_settings, Shape(plan.sqlite_learners))
        figures["rebuild_sqlite"] = rebuild(sqlite_settings)

        step("HTTP: no-op, commands (plain, keyed, beside a read-your-writes probe), reads, bulk")
        figures.update(web_figures(web_settings, plan.web, workdir))
        step("bulk ingest's raw limit: binary COPY of its rows into a scratch table")
        figures["bulk"]["raw_copy"] = binary_copy(web_settings, figures["bulk"]["events"])
        step("erasing a learner with 50 enrollments (PostgreSQL, beside the web data)")
        figures["erasure"] = erasure(web_settings)
        roster_learners = 100_000 if plan.name == "full" else 2_000
        step(f"the roster page against the JSON roster, {roster_learners:,} learners (PostgreSQL)")
        figures["roster_page"] = roster_page_figures(
            roster_settings, roster_learners, plan.web.load_seconds, workdir / "roster.log"
        )
    finally:
        for settings in (rebuild_settings, web_settings, roster_settings):
            drop_schema(settings)
    return figures


def step(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def postgres_settings(database_url: str, purpose: str) -> Settings:
    return Settings(
        database_url=database_url, database_schema=f"bench_{purpose}_{uuid.uuid4().hex[:8]}"
    )


def seed(settings: Settings, shape: Shape) -> int:
    services = bootstrap(settings)
    try:
        return generate(services.ledger, shape)
    finally:
        services.close()


def drop_schema(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE')


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def versions(database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
        commit = connection.execute("SHOW synchronous_commit").fetchone()
    packages = ("eventsourcing", "fastapi", "uvicorn", "psycopg", "pydantic", "orjson")
    return {
        "python": platform.python_version(),
        "postgresql": str(row[0]) if row else "?",
        "postgresql_synchronous_commit": str(commit[0]) if commit else "?",
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version(),
        **{package: version(package) for package in packages},
    }


if __name__ == "__main__":
    raise SystemExit(main())
