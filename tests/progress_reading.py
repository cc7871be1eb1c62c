"""Reading a learner's progress in a test exactly as the API's route reads it: on PostgreSQL
on an event loop through an asyncio pool, on SQLite through the read the route runs in its
threadpool. Either way the same statement and the same document function."""

from __future__ import annotations

import asyncio

from bootstrap import LedgerServices
from eventstore.async_reads import AsyncReadPool
from eventstore.environment import postgres_conninfo
from projections.progress_documents import CourseProgress
from projections.progress_reads import ProgressReads


def read_progress(
    services: LedgerServices, learner_id: str, course_id: str
) -> CourseProgress | None:
    if not services.reads.on_event_loop:
        return services.reads.learner_course(learner_id, course_id)
    return asyncio.run(read_on_a_loop(services, learner_id, course_id))


async def read_on_a_loop(
    services: LedgerServices, learner_id: str, course_id: str
) -> CourseProgress | None:
    """On a pool of this loop's own: the app's pool belongs to the app's event loop."""
    settings = services.settings
    pool = AsyncReadPool(
        postgres_conninfo(settings.store_options()),
        pool_size=1,
        timeout=settings.database_connect_timeout,
    )
    reads = ProgressReads(services.db, pool)
    await reads.open()
    try:
        return await reads.learner_course_on_loop(learner_id, course_id)
    finally:
        await reads.close()


def progress_of(services: LedgerServices, learner_id: str, course_id: str) -> CourseProgress:
    progress = read_progress(services, learner_id, course_id)
    assert progress is not None, f"{learner_id} is not enrolled in {course_id}"
    return progress
