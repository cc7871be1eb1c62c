"""Course ids derived from the platform's own keys, so the same key always names one stream."""

from functools import lru_cache
from uuid import UUID, uuid5

NAMESPACE = UUID("7b1c3f0e-5f3a-4c8e-9a57-2f0d6c1e8b44")


# Asked on every command and every projection batch; a uuid5 costs more than the lookup.
@lru_cache(maxsize=65_536)
def course_aggregate_id(course_id: str) -> UUID:
    return uuid5(NAMESPACE, f"course\x1f{course_id}")


def legacy_enrollment_id(course_id: str, learner_id: str) -> UUID:
    """An enrollment's id before learners had keys: anyone holding a list of learner ids
    could compute it, so only `progress-ledger migrate` still does (to find old streams).
    Enrollment ids are now derived under the learner's key (eventstore/learner_keys.py)."""
    return uuid5(NAMESPACE, f"enrollment\x1f{course_id}\x1f{learner_id}")


def statement_aggregate_id(statement_id: str) -> UUID:
    """The stream of an xAPI statement, by its (lower-cased) UUID."""
    return uuid5(NAMESPACE, f"xapi-statement\x1f{statement_id.lower()}")


@lru_cache(maxsize=65_536)
def activity_aggregate_id(activity_id: str) -> UUID:
    """The stream that links an xAPI activity IRI to a course, a unit or a module."""
    return uuid5(NAMESPACE, f"xapi-activity\x1f{activity_id}")
