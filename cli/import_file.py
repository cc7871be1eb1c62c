"""`progress-ledger import FILE.ndjson`: the batch endpoint's work, from a file, with a bar."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from api.batch_items import MAX_ITEMS, parse_ndjson
from bootstrap import LedgerServices
from cli.progress_bars import progress_bar
from domain.acting import Acting
from ledger.importer import CompletionImporter, ItemError
from projections.collector import collector_paused

SHOWN_ERRORS = 20


def batches(lines: BinaryIO, size: int) -> Iterator[list[bytes]]:
    while batch := list(islice(lines, size)):
        yield batch


def import_file(
    services: LedgerServices, path: Path, *, enroll: bool, batch_size: int, show_progress: bool
) -> int:
    """Returns 0 when every line was recorded (or already was), 1 when some were refused."""
    importer = CompletionImporter(
        services.ledger, Acting("import"), enroll_option="run with --enroll"
    )
    total_bytes = max(path.stat().st_size, 1)
    started = time.monotonic()
    line_number = appended = already = events = errors = 0
    with (
        path.open("rb") as lines,
        progress_bar("importing", "bytes", force=show_progress) as advance,
    ):
        for batch in batches(lines, min(batch_size, MAX_ITEMS)):
            numbers = [line_number + i + 1 for i, line in enumerate(batch) if line.strip()]
            line_number += len(batch)
            with collector_paused():
                outcome = importer.run(parse_ndjson(batch), enroll=enroll)
            appended += outcome.count("appended")
            already += outcome.count("already_complete")
            events += outcome.events
            for result in outcome.results:
                if isinstance(result.error, ItemError):
                    errors += 1
                    if errors <= SHOWN_ERRORS:
                        where = f" ({result.error.field})" if result.error.field else ""
                        print(
                            f"line {numbers[result.index]}{where}: {result.error.detail}",
                            file=sys.stderr,
                        )
            advance(lines.tell(), total_bytes)
    elapsed = max(time.monotonic() - started, 1e-6)
    print(
        f"{appended:,} recorded, {already:,} already complete, {errors:,} refused; "
        f"{events:,} events in {elapsed:.1f}s ({events / elapsed:,.0f} events/s)",
        file=sys.stderr,
    )
    return 1 if errors else 0
