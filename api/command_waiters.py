"""Runs enrollment commands from async routes: no threadpool hop, one wake-up per batch.

The committer thread (ledger/committer.py) settles a whole batch at once; each event
loop waiting on it is woken once for all of its requests in that batch.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from starlette.concurrency import run_in_threadpool

from domain.commands import Change, EnrollmentCommand, Recorded
from ledger.application import ProgressLedger
from ledger.group_commit import GroupCommitLedger


class LoopWaker:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def settle(self, commands: list[EnrollmentCommand]) -> None:
        """Called on the committer's thread."""
        self.loop.call_soon_threadsafe(wake, commands)


def wake(commands: list[EnrollmentCommand]) -> None:
    for command in commands:
        waiter: asyncio.Future[Any] = command.waiter
        if not waiter.done():  # a request that was cancelled no longer waits
            waiter.set_result(None)


_wakers: WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWaker] = WeakKeyDictionary()


def waker_of(loop: asyncio.AbstractEventLoop) -> LoopWaker:
    waker = _wakers.get(loop)
    if waker is None:
        waker = _wakers[loop] = LoopWaker(loop)
    return waker


async def change_enrollment(
    ledger: ProgressLedger, enrollment_id: UUID, change: Change
) -> Recorded:
    if not isinstance(ledger, GroupCommitLedger):
        return await run_in_threadpool(ledger.change_enrollment, enrollment_id, change)
    loop = asyncio.get_running_loop()
    command = ledger.command(enrollment_id, change, waker_of(loop).settle)
    command.waiter = loop.create_future()
    ledger.commands.submit(command)
    await command.waiter
    return command.outcome()
