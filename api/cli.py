"""`progress-ledger`: serve the API, run the projector, rebuild projections."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from api.bootstrap import LedgerServices, bootstrap
from api.settings import Settings
from ingest.cli import import_file
from projections.rules import RULES
from projections.store import Generation


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="progress-ledger",
        description="An event-sourced ledger of learner progress. "
        "Configured by LEDGER_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    commands.add_parser("project", help="keep the live projection current (its own process)")

    rebuild = commands.add_parser(
        "rebuild", help="replay every event from position 0 into a new generation, then switch"
    )
    rebuild.add_argument(
        "--rules", choices=sorted(RULES), help="rules of the new generation (default: live's)"
    )
    importing = commands.add_parser(
        "import", help="record completions from an NDJSON file (one item a line)"
    )
    importing.add_argument(
        "file", type=Path, help="NDJSON: learner_id, course_id, unit_id|module_id"
    )
    importing.add_argument("--enroll", action="store_true", help="enroll learners as needed")
    importing.add_argument("--batch-size", type=int, default=5000, help="lines per transaction")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "serve":
        return serve(args.host, args.port)
    services = bootstrap(Settings())
    try:
        if args.command == "project":
            return project(services)
        if args.command == "import":
            return import_file(services, args.file, enroll=args.enroll, batch_size=args.batch_size)
        return rebuild(services, args.rules)
    finally:
        services.close()


def serve(host: str, port: int) -> int:
    import uvicorn

    uvicorn.run("api.main:app", host=host, port=port)
    return 0


def project(services: LedgerServices) -> int:
    stop = threading.Event()

    def request_stop(*_: object) -> None:
        stop.set()
        services.waker.wake()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print("projecting the live generation; Ctrl-C to stop", file=sys.stderr)
    services.engine.follow_live(stop, services.waker)
    return 0


def rebuild(services: LedgerServices, rules: str | None) -> int:
    live = services.store.live_generation()
    generation = services.store.create_generation(rules or live.rules)
    head = services.ledger.head_position()
    print(
        f"rebuilding generation {generation.number} ({generation.rules}) from position 0 to {head}",
        file=sys.stderr,
    )
    started = time.monotonic()
    report = ProgressReport(head, started)
    generation = services.engine.catch_up(generation, on_batch=report)
    # Events that arrived during the rebuild: catch up once more, then switch.
    generation = services.engine.catch_up(generation)
    services.store.switch_live(generation.number)
    elapsed = time.monotonic() - started
    rate = generation.position / elapsed if elapsed > 0 else 0.0
    print(
        f"\ngeneration {generation.number} is live at position {generation.position} "
        f"({elapsed:.1f}s, {rate:,.0f} events/s); "
        f"generation {live.number} is retired",
        file=sys.stderr,
    )
    return 0


class ProgressReport:
    """A one-line progress bar on stderr: position, events/s and the time left."""

    def __init__(self, head: int, started: float) -> None:
        self.head = max(head, 1)
        self.started = started

    def __call__(self, generation: Generation) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = generation.position / elapsed
        done = min(generation.position / self.head, 1.0)
        eta = (self.head - generation.position) / rate if rate > 0 else 0.0
        bar = "#" * int(done * 30)
        print(
            f"\r[{bar:<30}] {generation.position:,}/{self.head:,} "
            f"{rate:,.0f} events/s ETA {max(eta, 0):.0f}s",
            end="",
            file=sys.stderr,
            flush=True,
        )


if __name__ == "__main__":
    raise SystemExit(main())
