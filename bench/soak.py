"""`make soak` (`python -m bench.soak [--seconds 600] [--clients 32]`): keyed clients at
saturation while the API is SIGKILLed every 40-45 s and PostgreSQL crashes once; then
acknowledged, stored, lost, duplicated, 5xx and the server's RSS. Exits 1 on any loss,
duplicate or disagreeing read.

Everything runs on loopback against a PostgreSQL cluster of the soak's own (bench/cluster.py),
so the shared server is never restarted. The API is one uvicorn worker with the projection
inside it (the default deployment): each kill takes the projector down too.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.__main__ import step
from bench.cluster import PrivateCluster
from bench.data import Shape, course_ids, course_units
from bench.servers import Server, environment, free_port
from bench.soak_check import projection_disagreements, stored_completions, verdict
from bench.soak_clients import Client, Tally, learner_after_learner
from bootstrap import Settings

RESULTS = Path(__file__).resolve().parent / "soak-results.json"
HOST = "127.0.0.1"


@dataclass
class Timeline:
    """What the chaos did, and the server's RSS sampled every few seconds."""

    started: float = field(default_factory=time.monotonic)
    kills: list[float] = field(default_factory=list)
    restart_seconds: list[float] = field(default_factory=list)
    postgres_restarts: list[float] = field(default_factory=list)
    rss_mb: list[tuple[float, int, float]] = field(default_factory=list)  # (t, life, MB)

    def at(self) -> float:
        return round(time.monotonic() - self.started, 1)


class Api:
    """The API on one port for the whole soak, started again after each kill."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.env = environment(settings, embedded_projection=True)
        self.workdir = workdir
        self.port = free_port()
        self.life = 0
        self.server = self._start()

    def _start(self) -> Server:
        self.life += 1
        log = self.workdir / f"api-{self.life}.log"
        return Server("api.main:app", self.env, log, "/readyz", port=self.port)

    def kill_and_restart(self) -> float:
        """SIGKILL, then up again; the seconds until it answers."""
        self.server.popen.kill()
        self.server.popen.wait()
        started = time.monotonic()
        self.server = self._start()
        return time.monotonic() - started

    def rss_mb(self) -> float | None:
        try:
            status = Path(f"/proc/{self.server.popen.pid}/status").read_text()
        except OSError:
            return None
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        return kb / 1024

    def head(self) -> int:
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            position: int = client.get("/readyz").json()["projection"]["head"]
            return position

    def wait_caught_up(self, head: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            while client.get("/readyz").json()["projection"]["position"] < head:
                if time.monotonic() > deadline:
                    raise RuntimeError("the projection did not catch up with the log")
                time.sleep(0.2)


def chaos(
    api: Api,
    cluster: PrivateCluster,
    seconds: float,
    kill_every: tuple[float, float],
    timeline: Timeline,
    stop: threading.Event,
) -> None:
    """Kills the API every `kill_every` seconds; crashes PostgreSQL once, halfway between
    the two kills around the middle of the run; samples the server's RSS every 2 s."""
    kills, at = [], 0.0
    while (at := at + random.uniform(*kill_every)) < seconds:
        kills.append(at)
    middle = seconds / 2
    before = max([0.0, *(k for k in kills if k <= middle)])
    after = min([seconds, *(k for k in kills if k > middle)])
    postgres_at = (before + after) / 2
    events = sorted([(k, "kill") for k in kills] + [(postgres_at, "postgres")])
    while not stop.is_set():
        if events and timeline.at() >= events[0][0]:
            _, what = events.pop(0)
            step(f"{what} at {timeline.at():.0f} s")
            if what == "kill":
                timeline.kills.append(timeline.at())
                timeline.restart_seconds.append(round(api.kill_and_restart(), 2))
            else:
                timeline.postgres_restarts.append(timeline.at())
                cluster.crash()
                time.sleep(2)
                cluster.start()
            continue
        rss = api.rss_mb()
        if rss is not None:
            timeline.rss_mb.append((timeline.at(), api.life, round(rss, 1)))
        stop.wait(2)


def create_courses(api: Api) -> list[str]:
    courses = [f"soak-{course}" for course in course_ids(Shape(learners=0))]
    with httpx.Client(base_url=api.server.url, timeout=30) as client:
        for course in courses:
            units = [
                {"unit_id": u.unit_id, "modules": [{"module_id": m.module_id} for m in u.modules]}
                for u in course_units(course)
            ]
            response = client.post(
                "/v1/courses", json={"course_id": course, "title": course, "units": units}
            )
            response.raise_for_status()
    return courses


async def load(port: int, clients: int, seconds: float, courses: list[str], tally: Tally) -> None:
    run = uuid.uuid4().hex[:6]
    tasks = [
        asyncio.create_task(
            learner_after_learner(Client(HOST, port, tally), number, run, courses, tally)
        )
        for number in range(clients)
    ]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def soak(seconds: float, clients: int, kill_every: tuple[float, float]) -> dict[str, Any]:
    cluster = PrivateCluster()
    workdir = Path(tempfile.mkdtemp(prefix="ledger-soak-"))
    try:
        cluster.start()
        settings = Settings(database_url=cluster.url, database_schema="soak")
        api = Api(settings, workdir)
        courses = create_courses(api)
        tally, timeline, stop = Tally(), Timeline(), threading.Event()
        chaos_thread = threading.Thread(
            target=chaos, args=(api, cluster, seconds, kill_every, timeline, stop)
        )
        chaos_thread.start()
        try:
            asyncio.run(load(api.port, clients, seconds, courses, tally))
        finally:
            stop.set()
            chaos_thread.join()
        elapsed = timeline.at()
        step(f"load stopped after {elapsed:.0f} s; waiting for the projection")
        head = api.head()
        api.wait_caught_up(head)
        step("reading the log")
        stored = stored_completions(settings)
        step("reading every soaked enrollment's progress")
        wrong = asyncio.run(projection_disagreements(HOST, api.port, tally, stored, head))
        api.server.stop()
        return report(tally, timeline, stored, wrong, elapsed, clients, workdir)
    finally:
        cluster.destroy()


def report(
    tally: Tally,
    timeline: Timeline,
    stored: Any,
    wrong: list[str],
    elapsed: float,
    clients: int,
    workdir: Path,
) -> dict[str, Any]:
    rss = [mb for _, _, mb in timeline.rss_mb]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": elapsed,
        "clients": clients,
        **verdict(tally, stored),
        "acknowledged_per_second": round(len(tally.acknowledged) / elapsed, 1),
        "enrollments": tally.enrollments,
        "requests": tally.requests,
        "retries": tally.retries,
        "server_errors_5xx": tally.server_errors,
        "statuses": dict(sorted(tally.statuses.items())),
        "transport_errors": dict(tally.errors),
        "replayed": tally.replayed,
        "answered_again_appending_nothing": tally.appended_nothing,
        "refused_4xx": tally.refused[:20],
        "projection_disagreements": wrong[:20],
        "api_kills": timeline.kills,
        "api_restart_seconds": timeline.restart_seconds,
        "postgres_restarts": timeline.postgres_restarts,
        "rss_mb": {"first": rss[0], "max": max(rss), "last": rss[-1]} if rss else {},
        "rss_mb_max_per_life": max_per_life(timeline.rss_mb),
        "logs": str(workdir),
    }


def max_per_life(samples: list[tuple[float, int, float]]) -> list[float]:
    peaks: dict[int, float] = {}
    for _, life, mb in samples:
        peaks[life] = max(mb, peaks.get(life, 0.0))
    return [peaks[life] for life in sorted(peaks)]


def failed(results: dict[str, Any]) -> bool:
    return bool(results["lost"] or results["duplicated"] or results["projection_disagreements"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600, help="how long the load runs")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--kill-every", type=float, nargs=2, default=(40, 45), metavar="S")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    results = soak(args.seconds, args.clients, tuple(args.kill_every))
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    args.output.write_bytes(orjson.dumps(results, option=options) + b"\n")
    print(orjson.dumps(results, option=options).decode())
    verdict_line = "FAILED" if failed(results) else "passed"
    print(
        f"\nsoak {verdict_line}: {results['acknowledged']:,} acknowledged, "
        f"{results['stored']:,} stored, {results['lost']} lost, "
        f"{results['duplicated']} duplicated, {results['server_errors_5xx']} 5xx, "
        f"RSS {results['rss_mb']} MB; written to {args.output}",
        file=sys.stderr,
    )
    return 1 if failed(results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
