"""The statement checks and what the intake reads off a statement: pure, no server."""

from __future__ import annotations

from typing import Any

import pytest

from domain.xapi_statements import comparable, comparable_form, counts, learner_of, owner_of
from domain.xapi_validation import InvalidStatement, check_statement
from tests.xapi_samples import open_edx_block_finished, statement, voiding

MEMBER = {"mbox": "mailto:grace@example.org"}


def refused_at(sent: Any) -> str | None:
    with pytest.raises(InvalidStatement) as refusal:
        check_statement(sent)
    return refusal.value.field


def test_what_lms_send_is_valid() -> None:
    check_statement(open_edx_block_finished("ada", "https://lms.example.org/block"))
    check_statement(voiding("ada", "5c2d0f52-8d6b-4c36-9c1c-0a6f7e9f1d10"))
    group = statement("ada", "completed", "https://x.org/a")
    group["actor"] = {"objectType": "Group", "member": [MEMBER]}
    check_statement(group)
    sub = statement("ada", "completed", "https://x.org/a")
    sub["object"] = {
        "objectType": "SubStatement",
        "actor": MEMBER,
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"},
        "object": {"id": "https://x.org/b"},
    }
    check_statement(sub)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"actor": {"objectType": "Group"}}, "statement.actor.member"),
        ({"actor": {"account": {"name": "ada"}}}, "statement.actor.account.homePage"),
        ({"actor": {"mbox_sha1sum": "abc"}}, "statement.actor.mbox_sha1sum"),
        ({"object": {"objectType": "StatementRef", "id": "x"}}, "statement.object.id"),
        ({"object": {"objectType": "Nothing", "id": "x"}}, "statement.object.objectType"),
        ({"verb": {"id": "http://adlnet.gov/expapi/verbs/voided"}}, "statement.object"),
        ({"result": {"duration": "90 minutes"}}, "statement.result.duration"),
        ({"result": {"score": {"min": 5, "max": 5}}}, "statement.result.score.max"),
        ({"result": {"success": "yes"}}, "statement.result.success"),
        ({"context": {"registration": "not-a-uuid"}}, "statement.context.registration"),
        ({"context": {"language": "english please"}}, "statement.context.language"),
        ({"version": "0.95"}, "statement.version"),
        ({"attachments": [{"usageType": "https://x.org/u"}]}, "statement.attachments[0].display"),
    ],
)
def test_refusals_name_the_property(change: dict[str, Any], field: str) -> None:
    sent = statement("ada", "completed", "https://x.org/a")
    sent.update(change)
    assert refused_at(sent) == field


def test_revision_only_about_an_activity_and_no_nested_sub_statement() -> None:
    sent = voiding("ada", "5c2d0f52-8d6b-4c36-9c1c-0a6f7e9f1d10")
    sent["context"] = {"platform": "Moodle"}
    assert refused_at(sent) == "statement.context.platform"
    inner = {"objectType": "SubStatement", "actor": MEMBER, "verb": {"id": "https://x.org/v"}}
    nested = {**inner, "object": {**inner, "object": {"id": "https://x.org/a"}}}
    sent = statement("ada", "completed", "https://x.org/a", object=nested)
    assert refused_at(sent) == "statement.object.object.objectType"


def test_which_verbs_count_and_who_the_learner_is() -> None:
    assert counts(statement("ada", "completed", "https://x.org/a"))
    assert counts(statement("ada", "passed", "https://x.org/a"))
    assert counts(statement("ada", "progressed", "https://x.org/a", completion=True))
    assert not counts(statement("ada", "progressed", "https://x.org/a", completion=False))
    assert not counts(statement("ada", "failed", "https://x.org/a"))
    actor = {"mbox": "mailto:ada@example.org", "account": {"homePage": "https://h", "name": "7"}}
    assert learner_of(actor, "account") == "7"
    assert learner_of(actor, "mbox") == "ada@example.org"
    assert learner_of(actor, "openid") is None
    assert owner_of({"objectType": "Group", "member": [MEMBER]}, "account") == "grace@example.org"


def test_the_same_content_ignores_what_the_lrs_set() -> None:
    sent = statement("ada", "completed", "https://x.org/a")
    del sent["timestamp"]
    stored = {**sent, "stored": "2024-05-01T10:00:00Z", "timestamp": "2024-05-01T10:00:00Z"}
    import json

    assert comparable_form(json.dumps(stored), timestamp_given=False) == comparable(sent)
    assert comparable_form("(erased)", timestamp_given=False) != comparable(sent)
