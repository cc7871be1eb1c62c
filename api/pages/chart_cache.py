"""The course page's charts, kept for a while: they scan every progress row of the course (a
million unit rows at 100,000 learners, seconds), while the roster beside them reads one page.
A chart is recomputed when the live projection has moved and it is older than
`CHARTS_MAX_AGE` seconds, so a course being written to pays the scan once in that time, not on
every view; the page says when its charts were counted."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from projections.course_charts import CourseChartReads, CourseCharts

COURSES_KEPT = 256
CHARTS_MAX_AGE = 10.0


@dataclass(frozen=True)
class KeptCharts:
    charts: CourseCharts | None
    position: int  # the live projection's position when they were counted
    counted: float  # on the cache's clock
    counted_at: datetime


class ChartCache:
    def __init__(
        self, reads: CourseChartReads, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.reads = reads
        self.clock = clock
        self._kept: OrderedDict[str, KeptCharts] = OrderedDict()
        self._lock = threading.Lock()

    def charts(self, course_id: str, live_position: int) -> KeptCharts:
        now = self.clock()
        with self._lock:
            kept = self._kept.get(course_id)
            if kept is not None and (
                kept.position == live_position or now - kept.counted < CHARTS_MAX_AGE
            ):
                self._kept.move_to_end(course_id)
                return kept
        kept = KeptCharts(self.reads.charts(course_id), live_position, now, datetime.now(UTC))
        with self._lock:
            self._kept[course_id] = kept
            self._kept.move_to_end(course_id)
            while len(self._kept) > COURSES_KEPT:
                self._kept.popitem(last=False)
        return kept
