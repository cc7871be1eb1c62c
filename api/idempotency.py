"""`Idempotency-Key` on every POST: the same key and body answer the first answer again.

The key is claimed by a row written in the same transaction as the command's events (see
`eventstore/idempotency_keys.py`), so a command and its key commit or vanish together and
survive restarts; a request runs at once, and only when its claim finds the key taken is
the first answer looked up. The answer itself is stored just after it is sent, in batches
(`AnswerWriter`); a retry that comes sooner waits for it, and if the process dies in
between, a retry runs the command again, which completes nothing twice because completions
are facts (a second completion of a unit appends nothing).

Keys are scoped by the caller's credential: another caller's key is a different row.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from typing import Any

from eventsourcing.persistence import PersistenceError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.access import keyring_for
from api.guards import header, read_body, replaying
from api.problems import problem
from eventstore.idempotency_keys import (
    AnswerWriter,
    Claim,
    IdempotencyKeyTaken,
    IdempotencyStore,
    Remembered,
    current_claim,
)

log = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"
# How long a retry waits for an identical request that is still running.
IN_FLIGHT_WAIT = 5.0


def fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode()):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def row_key(credential: str, key: str) -> str:
    return hashlib.sha256(f"{credential}\0{key}".encode()).hexdigest()


class Answer:
    """A buffered response: sent only once we know it is the one to send."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def collect(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))

    @property
    def status(self) -> int:
        return int(self.start["status"]) if self.start else 500

    @property
    def media_type(self) -> str:
        for key, value in self.start["headers"] if self.start else ():
            if key.lower() == b"content-type":
                text: str = value.decode("latin-1")
                return text
        return "application/json"

    async def send(self, send: Send) -> None:
        assert self.start is not None
        await send(self.start)
        await send({"type": "http.response.body", "body": b"".join(self.chunks)})


async def replay(remembered: Remembered, scope: Scope, receive: Receive, send: Send) -> None:
    body = (remembered.body or "").encode()
    await send(
        {
            "type": "http.response.start",
            "status": remembered.status,
            "headers": [
                (b"content-type", (remembered.media_type or "application/json").encode()),
                (b"content-length", str(len(body)).encode()),
                (REPLAYED_HEADER.lower().encode(), b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class IdempotencyKeys:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = (
            header(scope, b"idempotency-key")
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if key is None:
            await self.app(scope, receive, send)
            return
        if not KEY_PATTERN.match(key):
            invalid = problem(
                422,
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
                field="Idempotency-Key",
            )
            await invalid(scope, receive, send)
            return
        state = scope["app"].state
        credential = header(scope, b"authorization") or ""
        if not self._may_replay(state, credential):
            await self.app(scope, receive, send)  # the route answers 401
            return
        # BodyGuard (outside this middleware) has already bounded the body.
        body = await read_body(receive, 1 << 62) or b""
        services = state.services
        store = IdempotencyStore(services.db)
        claim = Claim(row_key(credential, key), fingerprint(scope, body))
        try:
            await self._answer(store, services.answers, claim, body, scope, receive, send)
        except PersistenceError as error:  # raised before anything was sent
            log.warning("idempotency keys unavailable: %s", error)
            unavailable = problem(
                503, "the database is unavailable; retry shortly", headers={"Retry-After": "2"}
            )
            await unavailable(scope, receive, send)

    async def _answer(
        self,
        store: IdempotencyStore,
        answers: AnswerWriter,
        claim: Claim,
        body: bytes,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        """The request runs at once, its claim written with its events; only when the key
        turns out to be taken (the claim's insert fails) is the first answer looked up."""
        answer = Answer()
        token = current_claim.set(claim)
        try:
            await self.app(scope, replaying(body, receive), answer.collect)
            taken = False
        except IdempotencyKeyTaken:
            taken = True
        finally:
            current_claim.reset(token)
        if not taken:
            if claim.recorded:
                remember(answers, claim.key, answer)
            await answer.send(send)
            return
        remembered = await run_in_threadpool(store.find, claim.key)
        if remembered is None:  # taken, then gone: only a cleanup could do that
            raise IdempotencyKeyTaken(claim.key)
        await self._answer_again(store, answers, claim, remembered, body, scope, receive, send)

    @staticmethod
    def _may_replay(state: Any, credential: str) -> bool:
        keyring = keyring_for(state)
        if keyring.is_open:
            return True
        scheme, _, token = credential.partition(" ")
        return scheme.lower() == "bearer" and keyring.identify(token.strip()) is not None

    async def _answer_again(
        self,
        store: IdempotencyStore,
        answers: AnswerWriter,
        claim: Claim,
        remembered: Remembered,
        body: bytes,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if remembered.fingerprint != claim.fingerprint:
            refused = problem(
                422,
                "this Idempotency-Key was already used for a different request",
                field="Idempotency-Key",
            )
            await refused(scope, receive, send)
            return
        deadline = time.monotonic() + IN_FLIGHT_WAIT
        while remembered.status is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the first request is still answering
            found = await run_in_threadpool(store.find, claim.key)
            remembered = found or remembered
        if remembered.status is not None:
            await replay(remembered, scope, receive, send)
            return
        # The first request committed but never stored its answer (it died, or the database
        # went away just then). Running the command again appends nothing new.
        answer = Answer()
        await self.app(scope, replaying(body, receive), answer.collect)
        remember(answers, claim.key, answer)
        await answer.send(send)


def remember(answers: AnswerWriter, key: str, answer: Answer) -> None:
    """Queues the answer to be stored (a 5xx is not: a retry should run again)."""
    if answer.status < 500:
        answers.remember(key, answer.status, answer.media_type, b"".join(answer.chunks).decode())
