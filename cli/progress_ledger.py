"""`progress-ledger`: serve the API, run the projector, rebuild, audit and verify projections."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from api.access import KeyConfigError, Keyring, is_loopback, new_key, parse_scopes
from bootstrap import LedgerServices, Settings, bootstrap
from bootstrap.metrics_directory import workers_metrics_directory
from cli import export_roster, lifecycle, operations
from cli.import_file import import_file
from cli.progress_bars import add_progress_flag
from eventstore.environment import is_postgres
from projections.collector import tune_garbage_collector
from projections.rules import RULES


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

    keys = commands.add_parser("keys", help="API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="print a new key (once) and its hash line")
    create.add_argument("--scopes", default="read", help="comma-separated: read,write,admin")
    create.add_argument("--name", default="key", help="a label for logs and 403 messages")

    commands.add_parser("project", help="keep the live projection current (its own process)")
    commands.add_parser(
        "deliver", help="deliver webhooks from the outbox (its own process; `serve` also does)"
    )

    rebuild = commands.add_parser(
        "rebuild", help="replay every event from position 0 into a new generation, then switch"
    )
    rebuild.add_argument(
        "--rules", choices=sorted(RULES), help="rules of the new generation (default: live's)"
    )
    rebuild.add_argument(
        "--dry-run", action="store_true", help="build, report what would change, do not switch"
    )
    add_progress_flag(rebuild)
    operations.add_commands(commands)
    lifecycle.add_commands(commands)
    export_roster.add_commands(commands)
    importing = commands.add_parser(
        "import", help="record completions from an NDJSON file (one item a line)"
    )
    importing.add_argument(
        "file", type=Path, help="NDJSON: learner_id, course_id, unit_id|module_id"
    )
    importing.add_argument("--enroll", action="store_true", help="enroll learners as needed")
    importing.add_argument("--batch-size", type=int, default=5000, help="lines per transaction")
    add_progress_flag(importing)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "serve":
        return serve(args.host, args.port)
    if args.command == "keys":
        return create_key(args.name, args.scopes)
    services = bootstrap(Settings())
    try:
        if args.command == "project":
            return project(services)
        if args.command == "deliver":
            return deliver(services)
        if args.command == "rebuild":
            return operations.rebuild(services, args.rules, args.dry_run, args.progress)
        if args.command == "import":
            return import_file(
                services,
                args.file,
                enroll=args.enroll,
                batch_size=args.batch_size,
                show_progress=args.progress,
            )
        return operations.run(services, args)
    finally:
        services.close()


def serve(host: str, port: int) -> int:
    import uvicorn

    settings = Settings()
    refusal = open_access_refusal(host, settings) or workers_refusal(settings)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    # Requests are logged as JSON lines by api.request_log, so uvicorn's own log is off.
    with workers_metrics_directory(settings.workers) as shared:
        if shared is not None:
            logging.info("metrics of the %d workers are kept in %s", settings.workers, shared)
        uvicorn.run(
            "api.main:app", host=host, port=port, access_log=False, workers=settings.workers
        )
    return 0


def workers_refusal(settings: Settings) -> str | None:
    """Several workers each run the embedded projection; only PostgreSQL elects one of them
    (an advisory lock), so SQLite keeps to one worker."""
    if settings.workers > 1 and not is_postgres(settings.database_url):
        return "progress-ledger: LEDGER_WORKERS above 1 needs PostgreSQL (SQLite: one worker)"
    return None


def open_access_refusal(host: str, settings: Settings) -> str | None:
    """Why `serve` must not start (bad keys, or no keys off loopback); None when it may."""
    try:
        keyring = Keyring.from_settings(settings)
    except KeyConfigError as error:
        return f"progress-ledger: {error}"
    if not keyring.is_open:
        logging.info("API keys: %d configured; every request needs one", len(keyring.keys))
        return None
    if not is_loopback(host):
        return (
            f"progress-ledger: refusing to serve on {host} without API keys: anyone who can "
            "reach it could read and write every record. Create one with `progress-ledger "
            "keys create --scopes read,write,admin` and set LEDGER_API_KEYS (or "
            "LEDGER_API_KEYS_FILE), or serve on 127.0.0.1."
        )
    logging.warning("no API keys configured: the API is open, served on loopback (%s) only", host)
    return None


def create_key(name: str, scopes: str) -> int:
    try:
        key, line = new_key(name, set(parse_scopes(scopes)))
    except KeyConfigError as error:
        print(f"progress-ledger: {error}", file=sys.stderr)
        return 2
    print(f"key:       {key}")
    print(f"hash line: {line}")
    print(
        "The key is shown once: give it to the client. Add the hash line to LEDGER_API_KEYS "
        "(entries separated by ';') or to the LEDGER_API_KEYS_FILE.",
        file=sys.stderr,
    )
    return 0


def project(services: LedgerServices) -> int:
    stop = threading.Event()

    def request_stop(*_: object) -> None:
        stop.set()
        services.waker.wake()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print("projecting the live generation; Ctrl-C to stop", file=sys.stderr)
    # Its states and modules live as long as the process: no collection should walk them.
    tune_garbage_collector()
    services.engine.follow_live(stop, services.waker, may_project=services.projector_lock)
    return 0


def deliver(services: LedgerServices) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("delivering webhooks; Ctrl-C to stop", file=sys.stderr)
    services.start_delivery()
    stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
