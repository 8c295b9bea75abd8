"""Tests for runtime.engine.scheduler: dynamic batching over a fake executor, on asyncio and uvloop.

The server runs on uvloop by default and on asyncio's loop when asked: every test runs on both,
since the two loops' timer handles differ (a uvloop timer due in under half a millisecond comes
back as a plain handle without ``when()``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from loader.config import BatchingConfig
from registry.runner import Request
from runtime.engine.scheduler import ModelScheduler
from runtime.errors import ModelNotReadyError
from runtime.instances.executor import Executor, Item, LoadedModel, OnResult
from runtime.instances.payload import Answer, Encoded, WireRequest
from runtime.loops import new_event_loop

pytestmark = pytest.mark.timeout(30)


class RecordingExecutor(Executor):
    """Answers each request with its id; records the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def start(self) -> LoadedModel:
        return LoadedModel(("predict",))

    async def predict_batch(self, requests: list[WireRequest]) -> list[Answer]:
        self.batches.append([rid for _, rid in requests])
        return [rid.encode() for _, rid in requests]

    async def predict_each(self, requests: list[WireRequest], on_result: OnResult) -> None:
        for index, (_, rid) in enumerate(requests):
            self.batches.append([rid])
            on_result(index, rid.encode())

    def generate(self, request: Request) -> AsyncGenerator[Item, None]:
        raise NotImplementedError

    def stream(self, requests: AsyncIterator[Request]) -> AsyncGenerator[Item, None]:
        raise NotImplementedError

    async def stop(self) -> None:
        """Nothing to release."""

    @property
    def ran(self) -> list[str]:
        return [rid for batch in self.batches for rid in batch]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[Any]]], Any]:
    """Run a coroutine function on a fresh event loop of the parametrized kind."""

    def run_on_loop(main: Callable[[], Awaitable[Any]]) -> Any:
        loop = new_event_loop(request.param)
        try:
            return loop.run_until_complete(asyncio.wait_for(main(), 20))
        finally:
            loop.close()

    return run_on_loop


def _wire(rid: str) -> WireRequest:
    return (b"", rid)


def _spin_until(moment: float) -> None:
    """Wait without letting the event loop run (so no timer can fire meanwhile)."""
    while time.monotonic() < moment:
        pass


def test_requests_arriving_while_a_delay_timer_is_due_all_get_their_answers(run) -> None:
    """Requests keep arriving as the batch delay runs out: every one is answered, and runs once.

    Each round queues a request, waits (without yielding) until its delay has almost run out,
    then queues two more: the scheduler re-arms its timer for a moment a fraction of a
    millisecond away, and then must look at that timer again.
    """
    delay_ms = 2.0
    rounds = 150

    async def main() -> tuple[RecordingExecutor, list[Encoded]]:
        executor = RecordingExecutor()
        batching = BatchingConfig(max_batch_size=8, max_queue_delay_ms=delay_ms)
        scheduler = ModelScheduler("m", [executor], batching)
        answers: list[Encoded] = []
        for round_ in range(rounds):
            start = time.monotonic()
            pending = [scheduler.predict(_wire(f"{round_}-a"))]
            _spin_until(start + delay_ms / 1000 - 0.0002 * (round_ % 5))
            pending.append(scheduler.predict(_wire(f"{round_}-b")))
            pending.append(scheduler.predict(_wire(f"{round_}-c")))
            answers.extend(await asyncio.gather(*pending))
        return executor, answers

    executor, answers = run(main)

    expected = [f"{r}-{x}" for r in range(rounds) for x in "abc"]
    assert answers == [rid.encode() for rid in expected]
    assert sorted(executor.ran) == sorted(expected)  # each ran exactly once


def test_requests_that_arrive_while_the_timer_is_pending_leave_together_after_it(run) -> None:
    async def main() -> RecordingExecutor:
        executor = RecordingExecutor()
        batching = BatchingConfig(max_batch_size=4, max_queue_delay_ms=1000)
        scheduler = ModelScheduler("m", [executor], batching)
        first = scheduler.predict(_wire("1"))
        await asyncio.sleep(0.01)  # the timer is pending: the batch waits to grow
        assert executor.batches == []
        rest = [scheduler.predict(_wire(rid)) for rid in ("2", "3")]
        await asyncio.gather(first, *rest)
        return executor

    assert run(main).batches == [["1", "2", "3"]]


def test_a_full_batch_leaves_at_once_and_the_rest_waits_for_a_new_timer(run) -> None:
    async def main() -> RecordingExecutor:
        executor = RecordingExecutor()
        batching = BatchingConfig(max_batch_size=2, max_queue_delay_ms=10_000)
        scheduler = ModelScheduler("m", [executor], batching)
        full = [scheduler.predict(_wire(rid)) for rid in ("1", "2")]
        await asyncio.gather(*full)  # full: no wait for the 10 s delay
        late = [scheduler.predict(_wire("3"))]
        await asyncio.sleep(0.01)
        assert executor.batches == [["1", "2"]]  # "3" waits for its own delay to end
        late.append(scheduler.predict(_wire("4")))  # fills the batch: both leave now
        await asyncio.gather(*late)
        return executor

    assert run(main).batches == [["1", "2"], ["3", "4"]]


def test_closing_fails_queued_requests_and_cancels_the_pending_timer(run) -> None:
    async def main() -> tuple[RecordingExecutor, list[Any]]:
        executor = RecordingExecutor()
        batching = BatchingConfig(max_batch_size=4, max_queue_delay_ms=20)
        scheduler = ModelScheduler("m", [executor], batching)
        queued = [scheduler.predict(_wire(rid)) for rid in ("1", "2")]
        await scheduler.close(ModelNotReadyError("closed"))
        results = await asyncio.gather(*queued, return_exceptions=True)
        await asyncio.sleep(0.04)  # past the delay: nothing may run now
        return executor, results

    executor, results = run(main)
    assert [str(result) for result in results] == ["closed", "closed"]
    assert executor.batches == []
