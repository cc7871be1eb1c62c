"""Finding or making learners' keys and naming streams under them, as the xAPI intake does
for a whole POST at once: read back by a key store that caches nothing yet."""

from __future__ import annotations

import uuid

from bootstrap import LedgerServices
from eventstore.learner_keys import LearnerKeys
from tests.factories import new_id


def test_naming_streams_finds_or_makes_keys_and_the_latest_claimant_owns_a_stream(
    services: LedgerServices,
) -> None:
    known, new = new_id("ada"), new_id("bob")
    course = new_id("course")
    before = services.keys.enroll([(known, course)])[known]
    first, second = uuid.uuid4(), uuid.uuid4()

    keys = services.keys.name_streams(
        {first: known, second: new}, [(new, course), (known, course)], name_enrollments=True
    )

    fresh = LearnerKeys(services.db)
    assert keys[known] == before and fresh.key_of(new) == keys[new]
    assert fresh.key_id_of_stream(first) == before.key_id
    assert set(fresh.enrollments_of(keys[new])) == {second, keys[new].enrollment_id(course)}

    again = services.keys.name_streams({first: new}, [(new, course)], name_enrollments=True)

    assert again == {new: keys[new]}
    fresh = LearnerKeys(services.db)
    assert fresh.key_id_of_stream(first) == keys[new].key_id
    assert set(fresh.enrollments_of(before)) == {before.enrollment_id(course)}
    assert set(fresh.enrollments_of(keys[new])) == {
        first,
        second,
        keys[new].enrollment_id(course),
    }


def test_keys_made_for_many_learners_at_once_are_each_their_own(
    services: LedgerServices,
) -> None:
    learners = [new_id(f"learner-{n}") for n in range(300)]
    streams = {uuid.uuid4(): learner for learner in learners}

    keys = services.keys.name_streams(streams)

    fresh = LearnerKeys(services.db)
    assert fresh.keys_of(learners) == keys
    assert len({key.key_id for key in keys.values()}) == len(learners)
    assert all(fresh.key_id_of_stream(s) == keys[owner].key_id for s, owner in streams.items())
