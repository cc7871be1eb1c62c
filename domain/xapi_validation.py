"""An xAPI statement checked as the specification (1.0.3 and 2.0, Data section 2.4) requires:
required properties, no unknown ones, exactly one inverse functional identifier per agent,
IRI / UUID / ISO 8601 / mailto forms, language maps, score ranges and extension keys.

Pure: a refusal is an `InvalidStatement` naming the property at fault as a path
(`statement[3].actor.mbox`). What the intake stores is the statement as sent, plus the `id`,
`stored`, `authority` and `version` the LRS sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import LedgerError
from domain.event_times import EventTimeOutOfRange, checked_event_time

# A scheme and something after it, with no white space: the absolute IRI the spec asks for
# (RFC 3987's full grammar is not what LRSs check either; they check this).
IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
MAILTO = re.compile(r"^mailto:[^@\s]+@[^@\s]+$")
SHA1_HEX = re.compile(r"^[0-9a-fA-F]{40}$")
SHA2_HEX = re.compile(r"^[0-9a-fA-F]{56,128}$")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
    r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)
VERSION = re.compile(r"^(1\.0(\.\d+)?|2\.0(\.\d+)?)$")
INVERSE_FUNCTIONAL_IDENTIFIERS = ("mbox", "mbox_sha1sum", "openid", "account")
VOIDED = "http://adlnet.gov/expapi/verbs/voided"

INTERACTION_TYPES = frozenset(
    {
        "true-false",
        "choice",
        "fill-in",
        "long-fill-in",
        "matching",
        "performance",
        "sequencing",
        "likert",
        "numeric",
        "other",
    }
)


class InvalidStatement(LedgerError):
    """A statement the specification does not allow; `field` is the path to the property."""


Check = Callable[[Any, str], object]


def refuse(path: str, why: str) -> InvalidStatement:
    return InvalidStatement(f"{path} {why}", field=path)


def an_object(
    value: Any, path: str, allowed: Mapping[str, Check], required: tuple[str, ...]
) -> None:
    if not isinstance(value, dict):
        raise refuse(path, "must be a JSON object")
    for name in required:
        if name not in value:
            raise refuse(f"{path}.{name}", "is required")
    for name, item in value.items():
        check = allowed.get(name)
        if check is None:
            raise refuse(f"{path}.{name}", "is not a property the specification allows here")
        check(item, f"{path}.{name}")


def a_string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise refuse(path, "must be a string")


def a_bool(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise refuse(path, "must be true or false")


def a_number(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refuse(path, "must be a number")


def an_iri(value: Any, path: str) -> None:
    if not isinstance(value, str) or not IRI.match(value):
        raise refuse(path, "must be an absolute IRI (scheme:...)")


def a_uuid(value: Any, path: str) -> None:
    try:
        if not isinstance(value, str) or len(value) != 36:
            raise ValueError(value)
        UUID(value)
    except ValueError:
        raise refuse(path, "must be a UUID in its 8-4-4-4-12 form") from None


def a_timestamp(value: Any, path: str) -> datetime:
    """ISO 8601 with a UTC offset, inside the range of domain/event_times.py."""
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise refuse(path, "must be an ISO 8601 timestamp") from None
    try:
        return checked_event_time(parsed)
    except EventTimeOutOfRange as error:
        raise refuse(path, str(error)) from None


def a_duration(value: Any, path: str) -> None:
    if not isinstance(value, str) or not DURATION.match(value):
        raise refuse(path, "must be an ISO 8601 duration (PT1H30M)")


def a_language_tag(value: Any, path: str) -> None:
    if not isinstance(value, str) or not LANGUAGE_TAG.match(value):
        raise refuse(path, "must be an RFC 5646 language tag")


def a_language_map(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise refuse(path, "must be a language map (a JSON object)")
    for tag, text in value.items():
        a_language_tag(tag, f"{path}.{tag}")
        a_string(text, f"{path}.{tag}")


def extensions(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise refuse(path, "must be a JSON object")
    for key in value:
        an_iri(key, f"{path}.{key}")


def a_list_of(check: Check) -> Check:
    def checked(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise refuse(path, "must be an array")
        for index, item in enumerate(value):
            check(item, f"{path}[{index}]")

    return checked


def object_type(*names: str) -> Check:
    def checked(value: Any, path: str) -> None:
        if value not in names:
            raise refuse(path, f"must be {' or '.join(repr(n) for n in names)}")

    return checked


# Agents and groups -----------------------------------------------------------------


ACCOUNT: dict[str, Check] = {"homePage": an_iri, "name": a_string}


def an_account(value: Any, path: str) -> None:
    an_object(value, path, ACCOUNT, ("homePage", "name"))


def a_mailto(value: Any, path: str) -> None:
    if not isinstance(value, str) or not MAILTO.match(value):
        raise refuse(path, "must be a mailto IRI (mailto:name@example.org)")


def a_sha1(value: Any, path: str) -> None:
    if not isinstance(value, str) or not SHA1_HEX.match(value):
        raise refuse(path, "must be the hex SHA-1 of a mailto IRI")


IDENTIFIED = {"mbox": a_mailto, "mbox_sha1sum": a_sha1, "openid": an_iri, "account": an_account}


def identifiers(value: dict[str, Any]) -> list[str]:
    return [name for name in INVERSE_FUNCTIONAL_IDENTIFIERS if name in value]


AGENT: dict[str, Check] = {"objectType": object_type("Agent"), "name": a_string, **IDENTIFIED}


def an_agent(value: Any, path: str) -> None:
    an_object(value, path, AGENT, ())
    if len(identifiers(value)) != 1:
        raise refuse(path, "must have exactly one of mbox, mbox_sha1sum, openid, account")


GROUP: dict[str, Check] = {
    "objectType": object_type("Group"),
    "name": a_string,
    "member": a_list_of(an_agent),
    **IDENTIFIED,
}


def a_group(value: Any, path: str) -> None:
    an_object(value, path, GROUP, ("objectType",))
    found = identifiers(value)
    if len(found) > 1:
        raise refuse(path, "must have at most one of mbox, mbox_sha1sum, openid, account")
    if not found and not value.get("member"):
        raise refuse(f"{path}.member", "is required for an anonymous group")


def an_actor(value: Any, path: str) -> None:
    if isinstance(value, dict) and value.get("objectType") == "Group":
        a_group(value, path)
    else:
        an_agent(value, path)


# Verbs, activities, references -----------------------------------------------------


VERB: dict[str, Check] = {"id": an_iri, "display": a_language_map}


def a_verb(value: Any, path: str) -> None:
    an_object(value, path, VERB, ("id",))


COMPONENT: dict[str, Check] = {"id": a_string, "description": a_language_map}
interaction_components = a_list_of(lambda item, where: an_object(item, where, COMPONENT, ("id",)))


DEFINITION: dict[str, Check] = {
    "name": a_language_map,
    "description": a_language_map,
    "type": an_iri,
    "moreInfo": an_iri,
    "extensions": extensions,
    "interactionType": object_type(*sorted(INTERACTION_TYPES)),
    "correctResponsesPattern": a_list_of(a_string),
    "choices": interaction_components,
    "scale": interaction_components,
    "source": interaction_components,
    "target": interaction_components,
    "steps": interaction_components,
}


ACTIVITY: dict[str, Check] = {
    "objectType": object_type("Activity"),
    "id": an_iri,
    "definition": lambda item, where: an_object(item, where, DEFINITION, ()),
}
STATEMENT_REF: dict[str, Check] = {"objectType": object_type("StatementRef"), "id": a_uuid}


def an_activity(value: Any, path: str) -> None:
    an_object(value, path, ACTIVITY, ("id",))


def a_statement_ref(value: Any, path: str) -> None:
    an_object(value, path, STATEMENT_REF, ("objectType", "id"))


a_list_of_activities = a_list_of(an_activity)


def activities(value: Any, path: str) -> None:
    """A context activity list: one activity, or an array of them."""
    if isinstance(value, list):
        a_list_of_activities(value, path)
    else:
        an_activity(value, path)


def an_object_of(statement: dict[str, Any], path: str, *, nested: bool) -> None:
    target = statement.get("object")
    kind = target.get("objectType", "Activity") if isinstance(target, dict) else None
    where = f"{path}.object"
    if kind == "Activity":
        an_activity(target, where)
    elif kind == "Agent":
        an_agent(target, where)
    elif kind == "Group":
        a_group(target, where)
    elif kind == "StatementRef":
        a_statement_ref(target, where)
    elif kind == "SubStatement" and not nested:
        a_sub_statement(target, where)
    else:
        raise refuse(f"{where}.objectType", "names no object type allowed here")


# Result and context ----------------------------------------------------------------


SCORE: dict[str, Check] = dict.fromkeys(("scaled", "raw", "min", "max"), a_number)


def a_score(value: Any, path: str) -> None:
    an_object(value, path, SCORE, ())
    scaled = value.get("scaled")
    if scaled is not None and not -1 <= scaled <= 1:
        raise refuse(f"{path}.scaled", "must be from -1 to 1")
    low, high, raw = value.get("min"), value.get("max"), value.get("raw")
    if low is not None and high is not None and not low < high:
        raise refuse(f"{path}.max", "must be greater than min")
    if raw is not None and low is not None and raw < low:
        raise refuse(f"{path}.raw", "must not be less than min")
    if raw is not None and high is not None and raw > high:
        raise refuse(f"{path}.raw", "must not be greater than max")


RESULT: dict[str, Check] = {
    "score": a_score,
    "success": a_bool,
    "completion": a_bool,
    "response": a_string,
    "duration": a_duration,
    "extensions": extensions,
}


CONTEXT_ACTIVITIES: dict[str, Check] = dict.fromkeys(
    ("parent", "grouping", "category", "other"), activities
)
CONTEXT_AGENT: dict[str, Check] = {
    "objectType": object_type("contextAgent"),
    "agent": an_agent,
    "relevantTypes": a_list_of(an_iri),
}
CONTEXT_GROUP: dict[str, Check] = {
    "objectType": object_type("contextGroup"),
    "group": a_group,
    "relevantTypes": a_list_of(an_iri),
}


def context_activities(value: Any, path: str) -> None:
    an_object(value, path, CONTEXT_ACTIVITIES, ())


def a_context_agent(value: Any, path: str) -> None:
    an_object(value, path, CONTEXT_AGENT, ("objectType", "agent"))


def a_context_group(value: Any, path: str) -> None:
    an_object(value, path, CONTEXT_GROUP, ("objectType", "group"))


CONTEXT: dict[str, Check] = {
    "registration": a_uuid,
    "instructor": an_actor,
    "team": a_group,
    "contextActivities": context_activities,
    "revision": a_string,
    "platform": a_string,
    "language": a_language_tag,
    "statement": a_statement_ref,
    "extensions": extensions,
    "contextAgents": a_list_of(a_context_agent),
    "contextGroups": a_list_of(a_context_group),
}


def an_integer(value: Any, path: str) -> None:
    if type(value) is not int:
        raise refuse(path, "must be an integer")


def a_sha2(value: Any, path: str) -> None:
    if not isinstance(value, str) or not SHA2_HEX.match(value):
        raise refuse(path, "must be a hex SHA-2 digest")


ATTACHMENT: dict[str, Check] = {
    "usageType": an_iri,
    "display": a_language_map,
    "description": a_language_map,
    "contentType": a_string,
    "length": an_integer,
    "sha2": a_sha2,
    "fileUrl": an_iri,
}


def an_attachment(value: Any, path: str) -> None:
    an_object(value, path, ATTACHMENT, ("usageType", "display", "contentType", "length", "sha2"))
    if "fileUrl" not in value:
        raise refuse(f"{path}.fileUrl", "is required: this intake takes no multipart bodies")


# Statements ------------------------------------------------------------------------

COMMON: dict[str, Check] = {
    "actor": an_actor,
    "verb": a_verb,
    "object": lambda item, where: None,  # by its objectType, below
    "result": lambda item, where: an_object(item, where, RESULT, ()),
    "context": lambda item, where: an_object(item, where, CONTEXT, ()),
    "timestamp": a_timestamp,
    "attachments": a_list_of(an_attachment),
}


SUB_STATEMENT: dict[str, Check] = {**COMMON, "objectType": object_type("SubStatement")}


def a_sub_statement(value: Any, path: str) -> None:
    an_object(value, path, SUB_STATEMENT, ("objectType", "actor", "verb", "object"))
    common_rules(value, path, nested=True)


def a_version(value: Any, path: str) -> None:
    if not isinstance(value, str) or not VERSION.match(value):
        raise refuse(path, "must be a 1.0.x or 2.0.x version")


STATEMENT: dict[str, Check] = {
    **COMMON,
    "id": a_uuid,
    "objectType": object_type("Statement"),
    "stored": a_timestamp,
    "authority": an_actor,
    "version": a_version,
}


def common_rules(statement: dict[str, Any], path: str, *, nested: bool) -> None:
    an_object_of(statement, path, nested=nested)
    context = statement.get("context")
    target = statement["object"]
    if isinstance(context, dict) and target.get("objectType", "Activity") != "Activity":
        for name in ("revision", "platform"):
            if name in context:
                raise refuse(f"{path}.context.{name}", "is allowed only about an activity")
    voiding = statement["verb"]["id"] == VOIDED and not nested
    if voiding and target.get("objectType") != "StatementRef":
        raise refuse(f"{path}.object", "of a voiding statement must be a StatementRef")


def check_statement(statement: Any, path: str = "statement") -> None:
    """Raises InvalidStatement naming the first property at fault."""
    an_object(statement, path, STATEMENT, ("actor", "verb", "object"))
    common_rules(statement, path, nested=False)
