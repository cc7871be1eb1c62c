"""A batch of completions (a batch request, a chunk of an import file) as commands.

Each item becomes a `RecordCompletion`, and all of them go to the committer as one
submission: each is decided on its own (a refused item changes nothing and says why, naming
the field), the accepted ones are written in one insert (one fsync however many items), or,
if that insert fails, none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID, uuid4

from domain.acting import Acting
from domain.commands import RecordCompletion, Recorded
from domain.errors import LedgerError
from domain.identifiers import course_aggregate_id
from ledger.application import ProgressLedger, now

Status = Literal["appended", "already_complete", "error"]


class CompletionItem(Protocol):
    """One completion of a batch, as the entry points parsed it (api/batch_items.py)."""

    learner_id: str
    course_id: str
    unit_id: str | None
    module_id: str | None
    occurred_at: datetime | None


@dataclass(frozen=True)
class ItemError:
    """Why an item was refused, and the field at fault."""

    detail: str
    field: str | None


# Not frozen: a batch makes ten thousand, and a frozen dataclass costs five times as much
# to build.
@dataclass(slots=True)
class ItemResult:
    index: int
    status: Status
    appended: list[str] = field(default_factory=list)
    error: ItemError | None = None


@dataclass(frozen=True)
class BatchResult:
    results: list[ItemResult]
    position: int

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def events(self) -> int:
        return sum(len(result.appended) for result in self.results)


class CompletionImporter:
    def __init__(
        self,
        ledger: ProgressLedger,
        acting: Acting,
        *,
        enroll_option: str = "send ?enroll=true",
    ) -> None:
        self.ledger = ledger
        self.acting = acting
        # How the way in says "enroll as needed", named in the errors that need it.
        self.enroll_option = enroll_option

    def run(self, items: Sequence[CompletionItem | ItemError], *, enroll: bool) -> BatchResult:
        at = now()
        enrollment_ids = self._enrollment_ids(items, enroll=enroll)
        commands: list[RecordCompletion] = []
        for item in items:
            if isinstance(item, ItemError):
                continue
            enrollment_id = enrollment_ids[(item.course_id, item.learner_id)]
            commands.append(
                RecordCompletion(
                    item.learner_id,
                    item.course_id,
                    item.unit_id,
                    item.module_id,
                    item.occurred_at or at,
                    enroll,
                    at,
                    enrollment_id,
                )
            )
        named = set(enrollment_ids.values())
        named.update(course_aggregate_id(course_id) for course_id, _ in enrollment_ids)
        submission = self.ledger.run_together(commands, self.acting, named)
        outcomes = iter(submission.outcomes)
        results = [
            ItemResult(index, "error", error=item)
            if isinstance(item, ItemError)
            else item_result(index, next(outcomes), self.enroll_option)
            for index, item in enumerate(items)
        ]
        return BatchResult(results, submission.position or self.ledger.head_position())

    def _enrollment_ids(
        self, items: Sequence[CompletionItem | ItemError], *, enroll: bool
    ) -> dict[tuple[str, str], UUID]:
        """Each (course, learner) pair's enrollment id under the learner's key, in one
        transaction: with `enroll`, keys are made for learners who have none; without, such
        a learner's pair gets an id that names no enrollment (the item is refused as not
        enrolled)."""
        pairs = {(i.learner_id, i.course_id) for i in items if not isinstance(i, ItemError)}
        if not pairs:
            return {}
        keys = self.ledger.learner_keys()
        found = keys.enroll(pairs) if enroll else keys.keys_of({learner for learner, _ in pairs})
        ids: dict[tuple[str, str], UUID] = {}
        for learner, course in pairs:
            key = found.get(learner)
            ids[(course, learner)] = uuid4() if key is None else key.enrollment_id(course)
        return ids


def item_result(index: int, outcome: Recorded | Exception, enroll_option: str) -> ItemResult:
    if type(outcome) is Recorded:
        status: Status = "appended" if outcome.appended else "already_complete"
        return ItemResult(index, status, outcome.appended)
    if isinstance(outcome, LedgerError):
        detail = outcome.message
        if outcome.enrolling is not None:
            detail = f"{detail}; {enroll_option} {outcome.enrolling}"
        return ItemResult(index, "error", error=ItemError(detail, outcome.field))
    assert isinstance(outcome, Exception)
    raise outcome
