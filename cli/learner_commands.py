"""`erase` and `export-learner` (what a learner may ask of the ledger), and `migrate`."""

from __future__ import annotations

import argparse
import sys

import orjson

from bootstrap import LedgerServices, legacy_migration
from bootstrap.learner_rights import erase_learner, export_learner
from cli.lifecycle import CLI_ACTOR
from cli.progress_bars import add_progress_flag, progress_bar
from domain.acting import Acting


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    erase = commands.add_parser(
        "erase", help="erase a learner: destroy their key, delete every row derived from them"
    )
    erase.add_argument("learner")
    export = commands.add_parser(
        "export-learner", help="print everything held about a learner, as JSON"
    )
    export.add_argument("learner")
    migrate = commands.add_parser(
        "migrate",
        help="copy a log written before learners had keys into this (empty) database, resumable",
    )
    migrate.add_argument("--from", dest="source", required=True, help="the old database's URL")
    migrate.add_argument("--from-schema", default="", help="the old PostgreSQL schema")
    migrate.add_argument("--batch-size", type=int, default=1000, help="events per insert")
    add_progress_flag(migrate)


def erase(services: LedgerServices, args: argparse.Namespace) -> int:
    erasure = erase_learner(services, args.learner, Acting(CLI_ACTOR))
    print(
        f"erased: {erasure.enrollments} enrollments at position {erasure.position}"
        + ("" if erasure.shredded else " (the SQLite log is truncated at the next checkpoint)")
    )
    return 0


def export(services: LedgerServices, args: argparse.Namespace) -> int:
    document = export_learner(services, args.learner)
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z))
    sys.stdout.buffer.write(b"\n")
    return 0


def migrate(services: LedgerServices, args: argparse.Namespace) -> int:
    with progress_bar("copying the old log", "events", force=args.progress) as advance:
        written = legacy_migration.migrate(
            services, args.source, args.from_schema, args.batch_size, advance
        )
    print(
        f"migrated: {written} events written; the old database can be deleted once this one serves"
    )
    return 0


COMMANDS = {"erase": erase, "export-learner": export, "migrate": migrate}
