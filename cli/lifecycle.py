"""The learner's lifecycle from the command line: revoke a completion, start again, and
change what completes a course or what a unit counts for. Every event records `cli` as
its actor, with the reason and the learner acted for when given."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from uuid import UUID

from bootstrap import LedgerServices
from domain.acting import Acting
from domain.commands import Recorded

CLI_ACTOR = "cli"


def yes_or_no(text: str) -> bool:
    if text.lower() in ("yes", "true", "1"):
        return True
    if text.lower() in ("no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"say yes or no, not {text!r}")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    revoke = commands.add_parser("revoke", help="take a unit's or a module's completion back")
    revoke.add_argument("enrollment", type=UUID)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--unit")
    which.add_argument("--module")
    reset = commands.add_parser("reset", help="begin a new attempt, from nothing completed")
    reset.add_argument("enrollment", type=UUID)
    for parser, reason_needed in ((revoke, False), (reset, True)):
        parser.add_argument("--reason", required=reason_needed, help="why (kept in the history)")
        parser.add_argument("--on-behalf-of", help="the learner or person acted for")

    course = commands.add_parser("course", help="change a course's completion threshold")
    course.add_argument("course")
    course.add_argument(
        "--threshold", type=float, required=True, help="percentage that completes the course"
    )
    unit = commands.add_parser("unit", help="change a unit's title, required or weight")
    unit.add_argument("course")
    unit.add_argument("unit")
    unit.add_argument("--title")
    unit.add_argument("--required", type=yes_or_no, help="yes or no")
    unit.add_argument("--weight", type=float)


def acting(args: argparse.Namespace) -> Acting:
    return Acting(CLI_ACTOR, getattr(args, "reason", None), getattr(args, "on_behalf_of", None))


def revoke(services: LedgerServices, args: argparse.Namespace) -> int:
    ledger = services.ledger
    if args.unit is not None:
        return report(ledger.revoke_unit(args.enrollment, args.unit, acting(args)))
    return report(ledger.revoke_module(args.enrollment, args.module, acting(args)))


def reset(services: LedgerServices, args: argparse.Namespace) -> int:
    return report(services.ledger.reset(args.enrollment, acting(args)))


def course(services: LedgerServices, args: argparse.Namespace) -> int:
    return report(services.ledger.change_threshold(args.course, args.threshold, acting(args)))


def unit(services: LedgerServices, args: argparse.Namespace) -> int:
    recorded = services.ledger.change_unit(
        args.course,
        args.unit,
        title=args.title,
        required=args.required,
        weight=args.weight,
        acting=acting(args),
    )
    return report(recorded)


def report(recorded: Recorded) -> int:
    appended = ", ".join(recorded.appended) or "nothing (it already was so)"
    print(f"appended {appended} at position {recorded.position}")
    return 0


COMMANDS: dict[str, Callable[[LedgerServices, argparse.Namespace], int]] = {
    "revoke": revoke,
    "reset": reset,
    "course": course,
    "unit": unit,
}
