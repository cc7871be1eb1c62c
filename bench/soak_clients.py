"""The soak's clients: each enrolls learners of its own and completes their units, every
request with an Idempotency-Key of its own, retried with that same key on any error or
timeout until it is answered (raw HTTP/1.1 keep-alive over asyncio streams, as
bench/openloop.py: a load generator that costs little CPU)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

COMPLETION_BODY = b'{"occurred_at": "2024-05-01T10:00:00Z"}'
REQUEST_TIMEOUT = 10.0
UNITS = 20


@dataclass
class Tally:
    """What the clients saw, all of them together."""

    # (enrollment_id, unit_id) -> learner and course, for every acknowledged completion.
    acknowledged: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    enrollments: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    replayed: int = 0  # answered from the stored answer of the key's first request
    appended_nothing: int = 0  # a retry that ran again after its first answer was lost
    refused: list[str] = field(default_factory=list)  # 4xx a retry should never hear

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


class Refused(Exception):
    """A 4xx answer: the request was wrong, retrying it cannot help."""


class Client:
    def __init__(self, host: str, port: int, tally: Tally) -> None:
        self.host = host
        self.port = port
        self.tally = tally
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, key: str) -> dict[str, Any]:
        """The answer's body, once a 2xx comes; the same request again, with the same key,
        after anything else short of a 4xx."""
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nIdempotency-Key: {key}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        backoff = 0.05
        while True:
            self.tally.requests += 1
            try:
                status, headers, answer = await asyncio.wait_for(
                    self._exchange(request), REQUEST_TIMEOUT
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
                self.tally.errors[type(error).__name__] += 1
                self._close()
            else:
                self.tally.statuses[status] += 1
                if status < 300:
                    if headers.get(b"idempotent-replayed") == b"true":
                        self.tally.replayed += 1
                    parsed: dict[str, Any] = orjson.loads(answer)
                    return parsed
                if 400 <= status < 500 and status not in (408, 409, 429):
                    self.tally.refused.append(f"{status} {path}: {answer[:200]!r}")
                    raise Refused(path)
            self.tally.retries += 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 1.0)

    async def _exchange(self, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(request)
        status_line = await self._reader.readline()
        if not status_line:
            raise asyncio.IncompleteReadError(b"", None)
        headers: dict[bytes, bytes] = {}
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        body = await self._reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection") == b"close":
            self._close()
        return int(status_line.split()[1]), headers, body

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def learner_after_learner(
    client: Client, number: int, run: str, courses: list[str], tally: Tally
) -> None:
    """Enrolls a new learner, completes the 20 units of their course, and again, forever."""
    for index in range(1_000_000_000):
        learner = f"soak-{run}-{number}-{index}"
        course = courses[(number + index) % len(courses)]
        key = f"{run}-{number}-{index}"
        try:
            enrolled = await client.post(
                "/v1/enrollments",
                orjson.dumps({"learner_id": learner, "course_id": course}),
                f"{key}-enroll",
            )
            tally.enrollments += 1
            enrollment = enrolled["enrollment_id"]
            for unit in range(UNITS):
                unit_id = f"{course}-u{unit}"
                answer = await client.post(
                    f"/v1/enrollments/{enrollment}/units/{unit_id}/completion",
                    COMPLETION_BODY,
                    f"{key}-u{unit}",
                )
                if not answer["appended"]:
                    tally.appended_nothing += 1
                tally.acknowledged[(enrollment, unit_id)] = (learner, course)
        except Refused:
            continue
