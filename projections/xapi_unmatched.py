"""Statements about activities no course, unit or module was linked to when they came:
counted by activity IRI, so an operator can see which link is missing (GET
/v1/xapi/unmatched). Read from the log itself, paging only the statements' events."""

from __future__ import annotations

from collections import Counter
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.utils import get_topic

from domain.xapi import Statement

PAGE = 5_000


def unmatched_activities(recorder: ApplicationRecorder, mapper: Mapper[Any]) -> dict[str, int]:
    """Activity IRI → how many statements about it were kept unmatched, most first."""
    counts: Counter[str] = Counter()
    topic = get_topic(Statement.Received)
    start = 1
    while True:
        page = recorder.select_notifications(start, PAGE, topics=[topic])
        for notification in page:
            received: Any = mapper.to_domain_event(notification)
            if not received.matched and received.activity_id is not None:
                counts[received.activity_id] += 1
        if len(page) < PAGE:
            return dict(counts.most_common())
        start = page[-1].id + 1
