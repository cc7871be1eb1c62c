"""Progress of long CLI work, on stderr (rich): shown on a terminal, or with `--progress`
when stderr is not one; never on stdout, which holds only results."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

# How far the work is: (done, total); total None while it is not known.
Advance = Callable[[int, int | None], None]


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress", action="store_true", help="show progress on stderr even when not a terminal"
    )


class RateColumn(ProgressColumn):
    """Items a second over the whole run so far (rich's own speed column counts bytes)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} {self.unit}/s")


@contextmanager
def progress_bar(description: str, unit: str, *, force: bool = False) -> Iterator[Advance]:
    console = Console(file=sys.stderr, force_terminal=force or None)
    with Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=console,
        redirect_stdout=False,
        redirect_stderr=True,  # diagnostics printed meanwhile go above the bar
        disable=not (force or console.is_terminal),
    ) as progress:
        task = progress.add_task(description, total=None)

        def advance(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield advance
