"""The course page's charts, kept until the live projection moves: they scan every progress
row of the course (a million unit rows at 100,000 learners, seconds), while the roster beside
them reads one page. Keyed by the live generation's position, so a chart is never older than
the roster it is shown with, only not recomputed while nothing changed."""

from __future__ import annotations

import threading
from collections import OrderedDict

from projections.course_charts import CourseChartReads, CourseCharts

COURSES_KEPT = 256


class ChartCache:
    def __init__(self, reads: CourseChartReads) -> None:
        self.reads = reads
        self._kept: OrderedDict[str, tuple[int, CourseCharts | None]] = OrderedDict()
        self._lock = threading.Lock()

    def charts(self, course_id: str, live_position: int) -> CourseCharts | None:
        with self._lock:
            kept = self._kept.get(course_id)
            if kept is not None and kept[0] == live_position:
                self._kept.move_to_end(course_id)
                return kept[1]
        charts = self.reads.charts(course_id)
        with self._lock:
            self._kept[course_id] = (live_position, charts)
            self._kept.move_to_end(course_id)
            while len(self._kept) > COURSES_KEPT:
                self._kept.popitem(last=False)
        return charts
