"""What the intake reads off a valid statement and what the LRS sets on it; pure."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import uuid4

from domain.xapi_validation import VOIDED

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
PROGRESSED = "http://adlnet.gov/expapi/verbs/progressed"
# Set by the LRS, so never part of "the same content".
SET_BY_THE_LRS = ("id", "stored", "authority", "version")
LEARNER_IDENTIFIERS = ("account", "mbox", "openid")


def comparable(statement: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in statement.items() if name not in SET_BY_THE_LRS}


def comparable_form(stored: str, *, timestamp_given: bool) -> dict[str, Any]:
    """A stored statement as `comparable` would see it sent again (a timestamp the LRS filled
    in is not compared when the resent one has none). Unreadable (erased): matches nothing."""
    try:
        kept = json.loads(stored)
    except ValueError:
        return {"(unreadable)": True}
    form = comparable(kept)
    if not timestamp_given:
        form.pop("timestamp", None)
    return form


def counts(statement: dict[str, Any]) -> bool:
    """completed, passed, or progressed with result.completion true (Open edX's finished
    block; cmi5 uses the same IRIs)."""
    verb = statement["verb"]["id"]
    if verb in (COMPLETED, PASSED):
        return True
    return verb == PROGRESSED and (statement.get("result") or {}).get("completion") is True


def activity_of(statement: dict[str, Any]) -> str | None:
    target = statement["object"]
    if target.get("objectType", "Activity") == "Activity":
        return str(target["id"])
    return None


def voided_target(statement: dict[str, Any]) -> str | None:
    if statement["verb"]["id"] == VOIDED:
        return str(statement["object"]["id"]).lower()
    return None


def learner_of(actor: dict[str, Any], identifier: str) -> str | None:
    """The learner id the actor names by the identifier chosen: `account` (its name),
    `mbox` (the address, without `mailto:`) or `openid`. None: the actor has no such."""
    if actor.get("objectType") == "Group":
        return None
    if identifier == "account":
        account = actor.get("account")
        return None if account is None else str(account["name"])
    if identifier == "mbox":
        mbox = actor.get("mbox")
        return None if mbox is None else str(mbox).removeprefix("mailto:")
    openid = actor.get("openid")
    return None if openid is None else str(openid)


def owner_of(actor: dict[str, Any], identifier: str) -> str:
    """Whose key seals the statement: the learner it names, else whatever identifies its
    actor (a group: its own identifier, else its first member's)."""
    found = learner_of(actor, identifier)
    if found is not None:
        return found
    for name in (identifier, *LEARNER_IDENTIFIERS, "mbox_sha1sum"):
        if name in actor:
            value = actor[name]
            return str(value["name"] if name == "account" else value).removeprefix("mailto:")
    members = actor.get("member") or []
    return owner_of(members[0], identifier) if members else "(anonymous group)"


def stamped(
    statement: dict[str, Any], stored: datetime, authority: dict[str, Any], version: str
) -> dict[str, Any]:
    """The statement as stored: its id (made when absent), `stored`, `authority` (always the
    credentials', whatever was sent), `version` and, when absent, `timestamp` = `stored`."""
    stored_text = stored.isoformat().replace("+00:00", "Z")
    out = dict(statement)
    out["id"] = str(statement.get("id") or uuid4()).lower()
    out["stored"] = stored_text
    out["authority"] = authority
    out.setdefault("version", version)
    out.setdefault("timestamp", stored_text)
    return out
