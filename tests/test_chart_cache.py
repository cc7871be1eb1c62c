"""The course page's charts under writes: counted once per `CHARTS_MAX_AGE` while the live
projection moves (each count scans the whole course), and exact again after it."""

from __future__ import annotations

from api.pages.chart_cache import CHARTS_MAX_AGE, ChartCache
from bootstrap import LedgerServices
from projections.course_charts import CourseChartReads
from tests.factories import four_unit_course
from tests.test_projection import project


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def completed_learners(cache: ChartCache, services: LedgerServices) -> int:
    kept = cache.charts("c1", services.reads.live_position())
    assert kept.charts is not None
    return kept.charts.histogram[-1].learners  # those at 100 %


def test_charts_are_recounted_once_they_are_old_and_the_projection_moved(
    services: LedgerServices,
) -> None:
    services.ledger.create_course("c1", "Course", four_unit_course())
    services.ledger.complete_unit(services.ledger.enroll("learner-0", "c1").enrollment.id, "u4")
    project(services)
    clock = Clock()
    cache = ChartCache(CourseChartReads(services.db), clock)
    before = completed_learners(cache, services)

    enrollment = services.ledger.enroll("learner-new", "c1").enrollment.id
    for unit in ("u1", "u2", "u3", "u4"):
        services.ledger.complete_unit(enrollment, unit)
    project(services)

    clock.now += CHARTS_MAX_AGE / 2
    assert completed_learners(cache, services) == before  # young: kept, though it moved
    clock.now += CHARTS_MAX_AGE / 2
    assert completed_learners(cache, services) == before + 1  # old and moved: recounted
    clock.now += 10 * CHARTS_MAX_AGE
    kept = cache.charts("c1", services.reads.live_position())
    assert cache.charts("c1", services.reads.live_position()) is kept  # not moved: kept
