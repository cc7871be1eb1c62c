"""After the soak: what the log holds against what the clients were told, and what the
projection answers against the log."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic

from bench.soak_clients import Tally
from bootstrap import Settings, bootstrap
from domain.enrollment import Enrollment

PAGE = 10_000


def stored_completions(settings: Settings) -> Counter[tuple[str, str]]:
    """How many UnitCompleted events the log holds for each (enrollment, unit), read and
    decoded through the ledger's own recorder and mapper."""
    services = bootstrap(settings)
    ledger = services.ledger
    topic = get_topic(Enrollment.UnitCompleted)
    stored: Counter[tuple[str, str]] = Counter()
    try:
        start = 1
        while notifications := ledger.recorder.select_notifications(start, PAGE, topics=[topic]):
            for notification in notifications:
                event = ledger.mapper.to_domain_event(notification)
                assert isinstance(event, Enrollment.UnitCompleted)
                stored[(str(event.originator_id), event.unit_id)] += 1
            start = notifications[-1].id + 1
    finally:
        services.close()
    return stored


def verdict(tally: Tally, stored: Counter[tuple[str, str]]) -> dict[str, Any]:
    acknowledged = set(tally.acknowledged)
    soaked = {enrollment for enrollment, _ in acknowledged}
    return {
        "acknowledged": len(acknowledged),
        "stored": sum(count for (enrollment, _), count in stored.items() if enrollment in soaked),
        "stored_never_acknowledged": sum(
            1 for pair in stored if pair not in acknowledged and pair[0] in soaked
        ),
        "lost": len(acknowledged - set(stored)),
        "duplicated": sum(count - 1 for count in stored.values() if count > 1),
    }


async def projection_disagreements(
    host: str,
    port: int,
    tally: Tally,
    stored: Counter[tuple[str, str]],
    head: int,
    connections: int = 16,
) -> list[str]:
    """Every soaked enrollment's progress, read as of the log's head: its completed units
    must be the ones stored."""
    completed: Counter[UUID] = Counter()
    for enrollment, _ in stored:
        completed[UUID(enrollment)] += 1
    learners = {UUID(pair[0]): who for pair, who in tally.acknowledged.items()}
    queue: asyncio.Queue[tuple[UUID, tuple[str, str]]] = asyncio.Queue()
    for item in learners.items():
        queue.put_nowait(item)
    wrong: list[str] = []

    async def reader() -> None:
        stream_in, stream_out = await asyncio.open_connection(host, port)
        try:
            while not queue.empty():
                enrollment, (learner, course) = queue.get_nowait()
                path = f"/v1/learners/{learner}/courses/{course}/progress?min_position={head}"
                stream_out.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                status = int((await stream_in.readline()).split()[1])
                length = 0
                while (line := await stream_in.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = orjson.loads(await stream_in.readexactly(length))
                if status != 200 or body["completed_units"] != completed[enrollment]:
                    wrong.append(f"{learner} {course}: {status} {body}")
        finally:
            stream_out.close()

    await asyncio.gather(*(reader() for _ in range(connections)))
    return wrong
