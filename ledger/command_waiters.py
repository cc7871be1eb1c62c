"""Waiting for the committer from an event loop: no thread blocks, one wake-up per batch.

The committer thread (ledger/committer.py) settles a whole batch at once; each event loop
waiting on it is woken once for all of its submissions in that batch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from ledger.committer import Committer, Submission


class LoopWaker:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def settle(self, submissions: list[Submission]) -> None:
        """Called on the committer's thread."""
        self.loop.call_soon_threadsafe(wake, submissions)


def wake(submissions: list[Submission]) -> None:
    for submission in submissions:
        waiter: asyncio.Future[Any] = submission.waiter
        if not waiter.done():  # a request that was cancelled no longer waits
            waiter.set_result(None)


_wakers: WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWaker] = WeakKeyDictionary()


def waker_of(loop: asyncio.AbstractEventLoop) -> LoopWaker:
    waker = _wakers.get(loop)
    if waker is None:
        waker = _wakers[loop] = LoopWaker(loop)
    return waker


async def decided(committer: Committer, submission: Submission) -> Submission:
    """Hands the submission to the committer and waits, on this event loop, until it is
    settled."""
    loop = asyncio.get_running_loop()
    submission.settle = waker_of(loop).settle
    submission.waiter = loop.create_future()
    committer.submit(submission)
    await submission.waiter
    return submission
