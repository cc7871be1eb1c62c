"""`progress-ledger export --course C --format csv|ndjson`: every learner of a course, to
stdout, in constant memory; progress on stderr (rich) when it is a terminal or asked for."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bootstrap import LedgerServices
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
    export.add_argument(
        "--progress", action="store_true", help="show progress on stderr even when not a terminal"
    )


def export(services: LedgerServices, args: argparse.Namespace) -> int:
    query = RosterQuery(status=args.status)
    console = Console(file=sys.stderr, force_terminal=args.progress or None)
    with Progress(
        SpinnerColumn(),
        TextColumn("exporting {task.fields[course]}: {task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        redirect_stdout=False,
        redirect_stderr=False,
        disable=not (args.progress or console.is_terminal),
    ) as progress:
        task = progress.add_task("export", total=None, course=args.course)

        def counted() -> Iterator[CourseProgress]:
            for row in roster_rows(services.db, args.course, query):
                yield row
                progress.advance(task)

        out = sys.stdout.buffer
        if args.format == "csv":
            for chunk in roster_csv(services.db, args.course, query):
                out.write(chunk.text)
                progress.advance(task, chunk.rows)
        else:
            for lines in ndjson_chunks(counted()):
                out.write(lines)
        out.flush()
    return 0


COMMANDS = {"export": export}
