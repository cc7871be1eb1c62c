"""`progress-ledger audit | verify | projections`, and the rebuild they sit beside."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bootstrap import LedgerServices
from cli import export_roster, learner_commands, lifecycle
from cli.progress_bars import add_progress_flag, progress_bar
from domain.errors import LedgerError, NotFoundError
from projections.audit import EventLog, Moment, Numbers, generation_at, timeline, verify
from projections.generations import Generation
from projections.parking import ParkedEvent
from projections.rebuilds import Rebuilder, diff_generations

DIFF_LINES = 1000


def instant(text: str) -> datetime:
    """An ISO-8601 instant with its UTC offset; a naive time would be read in a guessed zone."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 instant: {text!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a UTC offset, e.g. {text}+00:00")
    return parsed


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="replay one learner's course: one line per event")
    audit.add_argument("learner")
    audit.add_argument("course")
    audit.add_argument("--as-of", type=instant, help="stop at this ISO-8601 instant")

    checker = commands.add_parser(
        "verify", help="replay history in memory and compare it with every stored snapshot"
    )
    checker.add_argument("--course", help="check only this course's snapshots")
    add_progress_flag(checker)

    projections = commands.add_parser(
        "projections", help="list, cancel or drop generations; list or retry parked events"
    )
    actions = projections.add_subparsers(dest="action")
    actions.add_parser("list", help="every generation (the default)")
    actions.add_parser("parked", help="the live generation's parked events, in log order")
    actions.add_parser(
        "retry", help="re-apply the live generation's parked events in order (after a fix)"
    )
    for name, text in (
        ("cancel", "stop a building generation"),
        ("drop", "drop a retired or cancelled generation's tables"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("generation", type=int)
    learner_commands.add_commands(commands)


def run(services: LedgerServices, args: argparse.Namespace) -> int:
    commands: dict[str, Callable[[LedgerServices, argparse.Namespace], int]] = {
        "audit": audit,
        "verify": verify_snapshots,
        "projections": projections,
        **learner_commands.COMMANDS,
        **lifecycle.COMMANDS,
        **export_roster.COMMANDS,
    }
    try:
        return commands[args.command](services, args)
    except LedgerError as error:
        print(f"progress-ledger: {error.message}", file=sys.stderr)
        return 2


def event_log(services: LedgerServices) -> EventLog:
    return EventLog(services.ledger.recorder, services.ledger.mapper, services.db)


def audit(services: LedgerServices, args: argparse.Namespace) -> int:
    as_of: datetime | None = args.as_of
    generation = (
        generation_at(services.generations, as_of) if as_of else services.generations.live()
    )
    enrollment_id = services.ledger.enrollment_id(args.learner, args.course)
    if enrollment_id is None:
        raise NotFoundError(f"learner {args.learner!r} is not enrolled", field="learner_id")
    replayed = timeline(event_log(services), enrollment_id, generation.rules, as_of)
    print(f"{args.learner} in {args.course} under {generation.rules}")
    for moment in replayed.moments:
        print(audit_line(moment))
    progress = replayed.progress
    when = as_of.isoformat() if as_of else "now"
    print(
        f"{when}: {progress.percentage:.2f}% ({progress.completed_units}/{progress.total_units}) "
        f"at position {replayed.position}"
    )
    return 0


def audit_line(moment: Moment) -> str:
    detail = " ".join(f"{key}={value}" for key, value in flat(moment.data).items())
    source = "course" if moment.course_event else "learner"
    done = " completed" if moment.completed_at else ""
    progress = moment.progress
    acting = moment.acting
    by = f" by={acting.actor}"
    if acting.on_behalf_of:
        by += f" for={acting.on_behalf_of}"
    if acting.reason:
        by += f" reason={acting.reason!r}"
    return (
        f"{moment.position:>8} {moment.recorded_at.isoformat()} {source:<7} "
        f"{moment.type:<16} {detail:<28} -> {progress.percentage:6.2f}% "
        f"({progress.completed_units}/{progress.total_units}) attempt={moment.attempt}{done}{by}"
    )


def flat(data: dict[str, Any]) -> dict[str, Any]:
    """The ids an event names, nested unit and module specs included."""
    named: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            named.update((k, v) for k, v in value.items() if k.endswith("_id"))
        elif isinstance(value, str | int) and key != "index":
            named[key] = value
    return named


def verify_snapshots(services: LedgerServices, args: argparse.Namespace) -> int:
    with progress_bar("replaying the log", "events", force=args.progress) as advance:
        result = verify(event_log(services), services.generations, args.course, advance)
    for mismatch in result.mismatches:
        unit = f" unit={mismatch.unit_id}" if mismatch.unit_id else ""
        print(
            f"MISMATCH learner={mismatch.learner_id} course={mismatch.course_id}{unit} "
            f"stored={describe(mismatch.stored)} replayed={describe(mismatch.replayed)}"
        )
    for parked in result.parked:
        print(f"HELD {parked_line(parked)}")
    generation = result.generation
    print(
        f"checked {result.checked} snapshots of generation {generation.number} "
        f"({generation.rules}) at position {generation.position}, with their units: "
        f"{len(result.mismatches)} mismatches, {len(result.parked)} parked events",
        file=sys.stderr,
    )
    return 1 if result.mismatches else 0


def describe(numbers: Numbers | None) -> str:
    if numbers is None:
        return "missing"
    if isinstance(numbers[0], bool):  # a unit_progress row
        completed, done, modules, percentage, completed_at = numbers
        return f"completed={completed},{done}/{modules} modules,{percentage:.2f}%"
    completed_units, total, percentage, completed_at, withdrawn, attempt = numbers
    finished = completed_at.isoformat() if completed_at else "-"
    return (
        f"{completed_units}/{total},{percentage:.2f}%,completed_at={finished},"
        f"withdrawn={withdrawn},attempt={attempt}"
    )


def parked_line(parked: ParkedEvent) -> str:
    at = parked.parked_at.isoformat() if parked.parked_at else "-"
    return f"position={parked.position} {parked.kind}={parked.stream} parked_at={at} {parked.error}"


def projections(services: LedgerServices, args: argparse.Namespace) -> int:
    if args.action in ("parked", "retry"):
        return parked_events(services, args.action)
    rebuilder = Rebuilder(services.engine)
    if args.action == "cancel":
        rebuilder.cancel(args.generation)
        print(f"generation {args.generation} is cancelled; its tables stay until dropped")
    elif args.action == "drop":
        rebuilder.drop(args.generation)
        print(f"generation {args.generation} is dropped")
    head = services.ledger.head_position()
    for g in services.generations.all():
        print(
            f"g{g.number:<4} {g.status:<9} {g.rules:<18} position {g.position:>10,} "
            f"lag {max(0, head - g.position):>10,}"
        )
    return 0


def parked_events(services: LedgerServices, action: str) -> int:
    """Lists the live generation's parked events; `retry` first re-applies them. Exit 1 while
    any stays parked."""
    live = services.generations.live()
    if action == "retry":
        applied, remaining = services.engine.retry(live.number)
        print(f"applied {applied} parked events; {remaining} stay parked", file=sys.stderr)
    parked = services.engine.parked.of_generation(live.number)
    for event in parked:
        print(parked_line(event))
    if action == "parked":
        print(f"{len(parked)} parked events in generation {live.number}", file=sys.stderr)
    return 1 if parked else 0


# Rebuild ---------------------------------------------------------------------------


def rebuild(services: LedgerServices, rules: str | None, dry_run: bool, show_progress: bool) -> int:
    """Builds (or resumes) a generation under `rules`, then switches, or with `dry_run` only
    reports what the switch would change."""
    live = services.generations.live()
    rebuilder = Rebuilder(services.engine)
    try:
        generation = rebuilder.begin(rules or live.rules)
    except LedgerError as error:
        print(f"progress-ledger: {error.message}", file=sys.stderr)
        return 2
    head = services.ledger.head_position()
    verb = "resuming" if generation.position else "rebuilding"
    print(
        f"{verb} generation {generation.number} ({generation.rules}) "
        f"from position {generation.position} to {head}",
        file=sys.stderr,
    )
    start = generation.position
    started = time.monotonic()
    with progress_bar("replaying", "events", force=show_progress) as advance:
        ended = rebuilder.run(
            generation,
            switch=not dry_run,
            on_batch=lambda built: advance(built.position - start, max(head - start, 0)),
        )
    elapsed = time.monotonic() - started
    rate = (ended.position - generation.position) / elapsed if elapsed > 0 else 0.0
    if ended.status == "cancelled":
        print(f"generation {ended.number} was cancelled", file=sys.stderr)
        return 1
    if dry_run:
        print_diff(services, live, ended)
        rebuilder.finish_dry_run(ended)
        print(
            f"generation {ended.number} is built to position {ended.position} but not live; "
            f"`progress-ledger rebuild --rules {ended.rules}` resumes and switches to it, "
            f"a rebuild under other rules drops it, "
            f"`progress-ledger projections drop {ended.number}` drops it now",
            file=sys.stderr,
        )
        return 0
    print(
        f"generation {ended.number} is live at position {ended.position} "
        f"({elapsed:.1f}s, {rate:,.0f} events/s); generation {live.number} is retired "
        f"until `progress-ledger projections drop {live.number}`",
        file=sys.stderr,
    )
    return 0


def print_diff(services: LedgerServices, live: Generation, candidate: Generation) -> None:
    diff = diff_generations(services.db, live.number, candidate.number)
    print(
        f"{diff.changed} snapshots change from generation {live.number} ({live.rules}) "
        f"to {candidate.number} ({candidate.rules}); "
        f"{len(diff.learners)} learners' percentage or completion changes"
    )
    for change in diff.learners[:DIFF_LINES]:
        print(
            f"{change.learner_id} {change.course_id}: "
            f"{change.old_percentage}% -> {change.new_percentage}%, "
            f"completed {change.old_completed} -> {change.new_completed}"
        )
    if len(diff.learners) > DIFF_LINES:
        print(f"... and {len(diff.learners) - DIFF_LINES} more")
