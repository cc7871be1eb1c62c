"""`progress-ledger export --course C --format csv|ndjson`: every learner of a course, to
stdout, in constant memory; progress on stderr (rich) when it is a terminal or asked for."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from bootstrap import LedgerServices
from cli.progress_bars import add_progress_flag, progress_bar
from projections.progress_documents import CourseProgress
from projections.roster_export import EXPORT_FORMATS, ndjson_chunks, roster_csv
from projections.roster_queries import ROSTER_STATUSES, RosterQuery, roster_rows


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export", help="every learner of a course, as CSV or NDJSON on stdout"
    )
    export.add_argument("--course", required=True)
    export.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    export.add_argument("--status", choices=ROSTER_STATUSES)
    add_progress_flag(export)


def export(services: LedgerServices, args: argparse.Namespace) -> int:
    query = RosterQuery(status=args.status)
    exported = 0
    with progress_bar(f"exporting {args.course}", "rows", force=args.progress) as advance:

        def counted() -> Iterator[CourseProgress]:
            nonlocal exported
            for row in roster_rows(services.db, args.course, query):
                yield row
                exported += 1
                if exported % 1000 == 0:
                    advance(exported, None)

        out = sys.stdout.buffer
        if args.format == "csv":
            for chunk in roster_csv(services.db, args.course, query):
                out.write(chunk.text)
                exported += chunk.rows
                advance(exported, None)
        else:
            for lines in ndjson_chunks(counted()):
                out.write(lines)
            advance(exported, None)
        out.flush()
    return 0


COMMANDS = {"export": export}
