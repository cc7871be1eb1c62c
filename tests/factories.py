"""Small builders for test data with ids that never collide between tests."""

from __future__ import annotations

import uuid

from domain.course import Module, Unit


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def four_unit_course() -> list[Unit]:
    """Four units; the first has two modules, the rest none."""
    return [
        Unit("u1", "Basics", modules=(Module("m1", "Intro"), Module("m2", "Practice"))),
        Unit("u2", "Middle"),
        Unit("u3", "Advanced", required=False, weight=2.0),
        Unit("u4", "Exam", weight=3.0),
    ]
