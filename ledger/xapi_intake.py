"""The xAPI intake: statements in, one whole submission to the committer out.

A request's statements are checked (domain/xapi_validation.py) and stamped (`id`, `stored`,
`authority`, `version`), each is named as its actor's stream under their key (so the
statement is sealed under it and erasure finds it), the activities they are about are
looked up (one read each distinct IRI), and every command they make (keep, void, count)
goes to the committer as one submission, written whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from domain.acting import Acting
from domain.commands import Command
from domain.identifiers import activity_aggregate_id, statement_aggregate_id
from domain.xapi import Activity, Statement
from domain.xapi_commands import CountStatement, ReceiveStatement, VoidStatement
from domain.xapi_statements import (
    activity_of,
    comparable,
    counts,
    learner_of,
    owner_of,
    stamped,
    voided_target,
)
from domain.xapi_validation import InvalidStatement, check_statement
from ledger.application import ProgressLedger, now


def canonical(statement: dict[str, Any]) -> str:
    """The statement as kept: sorted keys, no spaces."""
    return orjson.dumps(statement, option=orjson.OPT_SORT_KEYS).decode()


# A statement's effect: the learner, the link of its activity, and whether it revokes.
Effect = tuple[str, Activity, bool]


@dataclass(frozen=True)
class IntakeOptions:
    # Which identifier of the actor names the learner: account (its name), mbox or openid.
    learner_identifier: str = "account"
    # Enroll a learner in the course on their first statement that counts.
    enroll: bool = False
    # The `homePage` of the authority account the LRS sets (the API key's name is its name).
    authority_home_page: str = "urn:progress-ledger:api-key"


class StatementIntake:
    def __init__(self, ledger: ProgressLedger, options: IntakeOptions) -> None:
        self.ledger = ledger
        self.options = options

    def receive(self, sent: Sequence[Any], acting: Acting, version: str, path: str) -> list[str]:
        """Keeps the statements (all or none) and does what they say; their ids, in order.
        Raises InvalidStatement (nothing kept) or the refusal of the batch (a conflict)."""
        for index, statement in enumerate(sent):
            check_statement(statement, path.format(index=index))
        at = now()
        authority = {
            "objectType": "Agent",
            "account": {"homePage": self.options.authority_home_page, "name": acting.actor},
        }
        statements = [stamped(statement, at, authority, version) for statement in sent]
        ids = [statement["id"] for statement in statements]
        if len(set(ids)) != len(ids):
            raise InvalidStatement("the same statement id appears twice in the batch", field="id")
        targets = self._voided_targets(statements)
        links = self._links(statements, targets.values())
        identifier = self.options.learner_identifier
        # Whose key seals each statement's stream (named once: a uuid5 costs microseconds).
        owners: dict[UUID, str] = {}
        # What each statement does: keep it, void its target, count (or revoke) for whom.
        plans: list[tuple[ReceiveStatement, str | None, list[Effect]]] = []
        pairs: set[tuple[str, str]] = set()
        for original, statement in zip(sent, statements, strict=True):
            activity_id = activity_of(statement)
            receive = ReceiveStatement(
                statement["id"],
                canonical(statement),
                comparable(original),
                activity_id,
                activity_id is not None and activity_id in links,
            )
            owners[receive.aggregate_ids[0]] = owner_of(statement["actor"], identifier)
            target = targets.get(voided_target(statement) or "")
            effects: list[Effect] = []
            for counted, revoke in ((statement, False), (target, True)):
                if counted is None or not counts(counted):
                    continue
                link = links.get(activity_of(counted) or "")
                learner = learner_of(counted["actor"], identifier)
                if link is not None and learner is not None:
                    effects.append((learner, link, revoke))
                    pairs.add((learner, link.course_id))
            plans.append((receive, None if target is None else target["id"], effects))
        keys = self.ledger.learner_keys().name_streams(
            owners, sorted(pairs), name_enrollments=self.options.enroll
        )
        commands: list[Command] = []
        # A learner's statements about one course share its enrollment (a keyed hash each).
        enrollments = {pair: keys[pair[0]].enrollment_id(pair[1]) for pair in pairs}
        for (receive, target_id, effects), statement in zip(plans, statements, strict=True):
            commands.append(receive)
            if target_id is not None:
                commands.append(VoidStatement(target_id, receive))
            because = Acting(acting.actor, f"xAPI statement {receive.statement_id}")
            occurred_at = datetime.fromisoformat(statement["timestamp"])
            for learner, link, revoke in effects:
                course_id, unit_id, module_id = link.target
                commands.append(
                    CountStatement(
                        receive,
                        learner,
                        course_id,
                        unit_id,
                        module_id,
                        enrollments[learner, course_id],
                        revoke,
                        self.options.enroll,
                        occurred_at,
                        at,
                        because,
                    )
                )
        submission = self.ledger.submission(commands, acting)
        submission.whole = True
        self.ledger.committer.run(submission).checked()
        for outcome in submission.outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return ids

    def _voided_targets(self, statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The statements voided by these, by id, that a voiding still affects: stored (or in
        this batch), not voided already, not voiding statements themselves."""
        in_batch = {statement["id"]: statement for statement in statements}
        found: dict[str, dict[str, Any]] = {}
        for statement in statements:
            target_id = voided_target(statement)
            if target_id is None:
                continue
            target = in_batch.get(target_id) or self._stored(target_id)
            if target is not None and voided_target(target) is None:
                found[target_id] = target
        return found

    def stored(self, statement_id: str) -> Statement | None:
        """The statement kept under this id, voided or not."""
        kept = self.ledger.current([statement_aggregate_id(statement_id)])
        found = next(iter(kept.values()), None)
        return found if isinstance(found, Statement) else None

    def _stored(self, statement_id: str) -> dict[str, Any] | None:
        kept = self.stored(statement_id)
        if kept is None or kept.voided_by is not None:
            return None
        try:
            statement: dict[str, Any] = json.loads(kept.statement)
        except ValueError:  # its learner was erased
            return None
        return statement

    def _links(
        self, statements: list[dict[str, Any]], targets: Iterable[dict[str, Any]]
    ) -> dict[str, Activity]:
        """The links of the activities these statements are about, read together."""
        iris = {iri for iri in map(activity_of, [*statements, *targets]) if iri is not None}
        found = self.ledger.current([activity_aggregate_id(iri) for iri in sorted(iris)])
        links: dict[str, Activity] = {}
        for link in found.values():
            if isinstance(link, Activity):
                links[link.activity_id] = link
        return links
