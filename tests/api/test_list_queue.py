"""The list queue: turns first come first served, a bounded number at once,
on threads apart from the request threads, and a refusal at once (with the
seconds to wait) when a list would wait longer than allowed."""

from __future__ import annotations

import asyncio
import threading

import anyio.to_thread
import pytest

from kumo.api.internal.list_queue import FIRST_TURN, ListQueue, Saturated


async def _hold(queue: ListQueue, release: asyncio.Event, got: list[int], i: int) -> None:
    async with queue.turn():
        got.append(i)
        await release.wait()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_turns_go_in_the_order_lists_came() -> None:
    async def main() -> list[int]:
        queue = ListQueue(places=1, max_wait=1e9)
        release = asyncio.Event()
        got: list[int] = []
        first = asyncio.create_task(_hold(queue, release, got, -1))
        await _settle()
        tasks = []
        for i in range(6):
            tasks.append(asyncio.create_task(_hold(queue, release, got, i)))
            await asyncio.sleep(0)
        await _settle()
        assert got == [-1] and queue.waiting == 6 and queue.running == 1
        release.set()
        await asyncio.gather(first, *tasks)
        return got

    assert asyncio.run(main()) == [-1, 0, 1, 2, 3, 4, 5]


def test_no_more_than_places_lists_are_in_progress() -> None:
    async def main() -> int:
        queue = ListQueue(places=3, max_wait=1e9)
        most = 0

        async def one() -> None:
            nonlocal most
            async with queue.turn():
                most = max(most, queue.running)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one() for _ in range(12)))
        assert queue.running == 0 and queue.waiting == 0
        return most

    assert asyncio.run(main()) == 3


def test_a_list_that_would_wait_too_long_is_refused_at_once() -> None:
    async def main() -> None:
        queue = ListQueue(places=1, max_wait=2.0)
        assert queue.turn_seconds == FIRST_TURN == 1.0
        release = asyncio.Event()
        got: list[int] = []
        held = [asyncio.create_task(_hold(queue, release, got, i)) for i in range(3)]
        await _settle()  # one in progress, two waiting: a third would wait 3 s
        assert queue.expected_wait() == 3.0
        with pytest.raises(Saturated) as refused:
            async with queue.turn():
                raise AssertionError("admitted")
        assert refused.value.retry_after == 2  # until the wait is back to half the limit
        assert queue.waiting == 2 and queue.running == 1  # the refusal took no place
        release.set()
        await asyncio.gather(*held)
        assert got == [0, 1, 2]
        async with queue.turn():  # room again
            pass

    asyncio.run(main())


def test_the_expected_wait_follows_how_long_turns_were_held() -> None:
    now = [0.0]

    async def main() -> None:
        queue = ListQueue(places=2, max_wait=1e9, clock=lambda: now[0])
        for _ in range(40):
            async with queue.turn():
                now[0] += 0.1
        assert queue.turn_seconds == pytest.approx(0.1, abs=1e-3)
        assert queue.expected_wait() == 0  # a place is free

    asyncio.run(main())


def test_lists_run_on_threads_of_their_own() -> None:
    """A list's work never waits for the request threads (heartbeats,
    reports), nor takes one from them."""

    async def main() -> None:
        queue = ListQueue(places=2)
        requests = anyio.to_thread.current_default_thread_limiter()
        requests.total_tokens = 1
        hold = threading.Event()
        busy = asyncio.ensure_future(anyio.to_thread.run_sync(hold.wait))  # every request thread
        await _settle()
        assert requests.borrowed_tokens == 1
        assert await asyncio.wait_for(queue.run(lambda: threading.get_ident()), 5) > 0
        hold.set()
        await busy

    asyncio.run(main())
