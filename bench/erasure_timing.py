"""Erasing a learner with 50 enrollments (issue 11's target: under a second), on a database
that also holds the bench's other data, with the live projection running."""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.data import course_units
from bootstrap import Settings, bootstrap
from bootstrap.learner_rights import erase_learner

ENROLLMENTS = 50


def erasure(settings: Settings) -> dict[str, Any]:
    services = bootstrap(settings)
    services.start_projection()
    try:
        learner = f"erasable-{uuid.uuid4().hex[:8]}@example.org"
        for index in range(ENROLLMENTS):
            course_id = f"erasure-course-{index}-{uuid.uuid4().hex[:6]}"
            services.ledger.create_course(course_id, course_id, course_units(course_id))
            enrolled = services.ledger.enroll(learner, course_id)
            unit = services.ledger.get_course(course_id).units[0]
            services.ledger.complete_unit(enrolled.enrollment.id, unit.unit_id)
        services.engine.wait_for(services.ledger.head_position(), timeout=60)
        started = time.perf_counter()
        erased = erase_learner(services, learner)
        elapsed = time.perf_counter() - started
    finally:
        services.close()
    return {"enrollments": erased.enrollments, "seconds": elapsed, "shredded": erased.shredded}
