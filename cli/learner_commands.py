"""`erase` and `export-learner`: what a learner may ask of the ledger about themselves."""

from __future__ import annotations

import argparse
import sys

import orjson

from bootstrap import LedgerServices
from bootstrap.learner_rights import erase_learner, export_learner


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    erase = commands.add_parser(
        "erase", help="erase a learner: destroy their key, delete every row derived from them"
    )
    erase.add_argument("learner")
    export = commands.add_parser(
        "export-learner", help="print everything held about a learner, as JSON"
    )
    export.add_argument("learner")


def erase(services: LedgerServices, args: argparse.Namespace) -> int:
    erasure = erase_learner(services, args.learner)
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


COMMANDS = {"erase": erase, "export-learner": export}
