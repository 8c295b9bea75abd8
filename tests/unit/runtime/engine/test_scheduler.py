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
from registry.errors import ErrorCode, ModelrtError
from runtime.engine.scheduler import ModelScheduler
from runtime.errors import ModelNotReadyError
from runtime.instances.executor import Executor, Item, LoadedModel, OnBatchDone, OnResult
from runtime.instances.payload import Answer, Encoded, StreamInput, WireRequest
from runtime.loops import new_event_loop

pytestmark = pytest.mark.timeout(30)


class RecordingExecutor(Executor):
    """Answers each request with its id; records the batches it was given.

    ``hold()`` keeps every trip from ending until ``release()`` (a busy instance);
    ``answers`` caps how many answers a trip gives (an instance that miscounts).
    """

    def __init__(self, answers: int | None = None) -> None:
        self.batches: list[list[str]] = []
        self.answers = answers
        self._gate: asyncio.Event | None = None

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        assert self._gate is not None
        self._gate.set()
        self._gate = None

    async def start(self) -> LoadedModel:
        return LoadedModel(("predict",))

    def submit_batch(self, requests: list[WireRequest], on_done: OnBatchDone) -> None:
        self.batches.append([rid for _, rid in requests])  # handed over, synchronously
        super().submit_batch(requests, on_done)

    async def predict_batch(self, requests: list[WireRequest]) -> list[Answer]:
        if self._gate is not None:
            await self._gate.wait()
        return [rid.encode() for _, rid in requests][: self.answers]

    async def predict_each(self, requests: list[WireRequest], on_result: OnResult) -> None:
        for index, (_, rid) in enumerate(requests[: self.answers]):
            self.batches.append([rid])
            on_result(index, rid.encode())

    def generate(self, request: WireRequest) -> AsyncGenerator[Item, None]:
        raise NotImplementedError

    def stream(self, requests: AsyncIterator[StreamInput]) -> AsyncGenerator[Item, None]:
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
        batching = BatchingConfig(
            max_batch_size=8, max_queue_delay_ms=delay_ms, queue_delay="fixed"
        )
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
        batching = BatchingConfig(max_batch_size=4, max_queue_delay_ms=1000, queue_delay="fixed")
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
        batching = BatchingConfig(max_batch_size=2, max_queue_delay_ms=10_000, queue_delay="fixed")
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
        batching = BatchingConfig(max_batch_size=4, max_queue_delay_ms=20, queue_delay="fixed")
        scheduler = ModelScheduler("m", [executor], batching)
        queued = [scheduler.predict(_wire(rid)) for rid in ("1", "2")]
        await scheduler.close(ModelNotReadyError("closed"))
        results = await asyncio.gather(*queued, return_exceptions=True)
        await asyncio.sleep(0.04)  # past the delay: nothing may run now
        return executor, results

    executor, results = run(main)
    assert [str(result) for result in results] == ["closed", "closed"]
    assert executor.batches == []


class FakeClock:
    """The scheduler's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingObserver:
    """Records what the scheduler reports."""

    def __init__(self) -> None:
        self.expired: list[str] = []
        self.batch_sizes: list[int] = []
        self.reasons: list[str] = []

    def observe_queue(self, model: str, seconds: float) -> None:
        """Queue times are not looked at here."""

    def observe_batch(self, model: str, size: int) -> None:
        self.batch_sizes.append(size)

    def count_restart(self, model: str) -> None:
        """No instance restarts here."""

    def count_expired(self, model: str) -> None:
        self.expired.append(model)

    def count_batch_reason(self, model: str, reason: str) -> None:
        self.reasons.append(reason)


def _error_of(future: Awaitable[Encoded]) -> ModelrtError:
    assert isinstance(future, asyncio.Future)
    assert future.done()
    error = future.exception()
    assert isinstance(error, ModelrtError), error
    return error


def test_a_lone_request_goes_out_at_once_in_a_batch_of_one(run) -> None:
    async def main() -> None:
        executor = RecordingExecutor()
        scheduler = ModelScheduler("m", [executor], BatchingConfig(max_batch_size=8))
        answer = scheduler.predict(_wire("1"))
        assert executor.batches == [["1"]]  # handed over before predict() returned
        assert await answer == b"1"

    run(main)


def test_requests_that_arrive_while_the_instance_is_busy_leave_as_one_batch(run) -> None:
    async def main() -> RecordingExecutor:
        executor = RecordingExecutor()
        scheduler = ModelScheduler("m", [executor], BatchingConfig(max_batch_size=8))
        executor.hold()
        calls = [scheduler.predict(_wire(rid)) for rid in "1234"]
        assert executor.batches == [["1"]]  # the rest wait for the instance
        executor.release()
        assert await asyncio.gather(*calls) == [b"1", b"2", b"3", b"4"]
        return executor

    assert run(main).batches == [["1"], ["2", "3", "4"]]


def test_a_batch_never_grows_past_max_batch_size(run) -> None:
    async def main() -> tuple[RecordingExecutor, CountingObserver]:
        executor, observer = RecordingExecutor(), CountingObserver()
        scheduler = ModelScheduler("m", [executor], BatchingConfig(max_batch_size=2), observer)
        executor.hold()
        calls = [scheduler.predict(_wire(rid)) for rid in "123456"]
        executor.release()
        await asyncio.gather(*calls)
        return executor, observer

    executor, observer = run(main)
    assert executor.batches == [["1"], ["2", "3"], ["4", "5"], ["6"]]
    assert observer.batch_sizes == [1, 2, 2, 1]


def test_a_batch_waits_out_max_queue_delay_on_the_schedulers_clock(run) -> None:
    async def main() -> RecordingExecutor:
        executor, clock = RecordingExecutor(), FakeClock()
        batching = BatchingConfig(max_batch_size=8, max_queue_delay_ms=20, queue_delay="fixed")
        scheduler = ModelScheduler("m", [executor], batching, clock=clock)
        first = scheduler.predict(_wire("1"))
        await asyncio.sleep(0.05)  # the loop's timer fired, but the clock says 0 ms passed
        assert executor.batches == []
        clock.now += 0.02
        second = scheduler.predict(_wire("2"))  # the delay is over: both leave now
        assert executor.batches == [["1", "2"]]
        await asyncio.gather(first, second)
        clock.now += 0.001
        third = scheduler.predict(_wire("3"))  # a new wait, ended by the timer
        clock.now += 0.02
        await third
        return executor

    assert run(main).batches == [["1", "2"], ["3"]]


def test_a_preferred_batch_size_leaves_without_waiting_out_the_delay(run) -> None:
    async def main() -> RecordingExecutor:
        executor = RecordingExecutor()
        batching = BatchingConfig(
            max_batch_size=8,
            max_queue_delay_ms=60_000,
            preferred_batch_sizes=(2,),
            queue_delay="fixed",
        )
        scheduler = ModelScheduler("m", [executor], batching, clock=FakeClock())
        calls = [scheduler.predict(_wire(rid)) for rid in "12"]
        assert executor.batches == [["1", "2"]]
        await asyncio.gather(*calls)
        return executor

    assert run(main).batches == [["1", "2"]]


def test_a_batch_is_cut_to_the_largest_preferred_size_that_fits(run) -> None:
    async def main() -> RecordingExecutor:
        executor = RecordingExecutor()
        batching = BatchingConfig(max_batch_size=8, preferred_batch_sizes=(2, 4))
        scheduler = ModelScheduler("m", [executor], batching)
        executor.hold()
        calls = [scheduler.predict(_wire(rid)) for rid in "0123456"]
        executor.release()
        await asyncio.gather(*calls)
        return executor

    # 6 wait: cut to 4, the 2 left are a preferred size of their own.
    assert run(main).batches == [["0"], ["1", "2", "3", "4"], ["5", "6"]]


def test_a_full_queue_refuses_the_next_request_with_queue_full(run) -> None:
    async def main() -> None:
        executor = RecordingExecutor()
        batching = BatchingConfig(max_batch_size=4, max_queue_size=2)
        scheduler = ModelScheduler("m", [executor], batching)
        executor.hold()
        calls = [scheduler.predict(_wire(rid)) for rid in "123"]  # 1 runs, 2 and 3 wait
        with pytest.raises(ModelrtError) as refused:
            scheduler.predict(_wire("4"))
        assert (refused.value.code, refused.value.reason) == (
            ErrorCode.RESOURCE_EXHAUSTED,
            "QUEUE_FULL",
        )
        executor.release()
        assert await asyncio.gather(*calls) == [b"1", b"2", b"3"]

    run(main)


def test_a_request_whose_deadline_passes_in_the_queue_is_dropped_unrun_and_counted(
    run,
) -> None:
    async def main() -> tuple[RecordingExecutor, CountingObserver]:
        executor, observer, clock = RecordingExecutor(), CountingObserver(), FakeClock()
        batching = BatchingConfig(max_batch_size=8)
        scheduler = ModelScheduler("m", [executor], batching, observer, clock=clock)
        executor.hold()
        busy = scheduler.predict(_wire("busy"))
        late = scheduler.predict(_wire("late"), timeout=1.0)
        gone = scheduler.predict(_wire("gone"), timeout=1.0)
        in_time = scheduler.predict(_wire("in-time"), timeout=5.0)
        endless = scheduler.predict(_wire("endless"))
        clock.now += 2.0
        assert isinstance(gone, asyncio.Future)
        gone.cancel()  # as gRPC does when the deadline comes: still an expiry in the queue
        executor.release()
        assert list(await asyncio.gather(busy, in_time, endless)) == [
            b"busy",
            b"in-time",
            b"endless",
        ]
        error = _error_of(late)
        assert (error.code, error.reason) == (
            ErrorCode.DEADLINE_EXCEEDED,
            "DEADLINE_EXPIRED_IN_QUEUE",
        )
        return executor, observer

    executor, observer = run(main)
    assert executor.batches == [["busy"], ["in-time", "endless"]]
    assert observer.expired == ["m", "m"]


def test_a_batch_answered_with_the_wrong_count_fails_every_caller_with_internal(run) -> None:
    async def main() -> None:
        executor = RecordingExecutor(answers=1)
        batching = BatchingConfig(max_batch_size=4)
        scheduler = ModelScheduler("m", [executor], batching)
        executor.hold()
        first = scheduler.predict(_wire("1"))
        batch = [scheduler.predict(_wire(rid)) for rid in "234"]
        executor.release()
        assert await first == b"1"  # one request, one answer
        await asyncio.gather(*batch, return_exceptions=True)
        for call in batch:
            error = _error_of(call)
            assert (error.code, error.reason) == (ErrorCode.INTERNAL, "INTERNAL")
            assert "returned 1 answers for 3 requests" in error.message
        assert await scheduler.predict(_wire("5")) == b"5"  # the scheduler goes on

    run(main)


def test_an_unbatched_trip_that_leaves_a_request_unanswered_fails_it_with_internal(
    run,
) -> None:
    async def main() -> None:
        executor = RecordingExecutor(answers=1)
        scheduler = ModelScheduler("m", [executor], BatchingConfig(max_batch_size=1))
        calls = [scheduler.predict(_wire(rid)) for rid in "123"]  # trips: [1], then [2, 3]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert results[:2] == [b"1", b"2"]
        error = _error_of(calls[2])
        assert (error.code, error.reason) == (ErrorCode.INTERNAL, "INTERNAL")
        assert "returned 1 answers for 2 requests" in error.message

    run(main)


# -- adaptive queue delay (the default): wait only when the measured trip cost says it pays --


class TimedExecutor(RecordingExecutor):
    """A RecordingExecutor whose trips take ``fixed + per_request * n`` on the fake clock."""

    def __init__(self, clock: FakeClock, fixed: float, per_request: float = 0.0) -> None:
        super().__init__()
        self.clock, self.fixed, self.per_request = clock, fixed, per_request

    def submit_batch(self, requests: list[WireRequest], on_done: OnBatchDone) -> None:
        self.clock.now += self.fixed + self.per_request * len(requests)
        super().submit_batch(requests, on_done)


def _adaptive(delay_ms: float = 60_000, **more: Any) -> BatchingConfig:
    return BatchingConfig(max_batch_size=8, max_queue_delay_ms=delay_ms, **more)


def _teach(scheduler: ModelScheduler, clock: FakeClock, fixed: float, gap: float) -> None:
    """Give the cost model trips costing ``fixed`` and arrivals ``gap`` apart."""
    for _ in range(20):
        scheduler.cost.observe_trip(1, fixed)
        clock.now += gap
        scheduler.cost.observe_arrival(clock.now)


def test_trips_teach_the_scheduler_their_fixed_and_per_request_cost(run) -> None:
    async def main() -> ModelScheduler:
        clock = FakeClock()
        executor = TimedExecutor(clock, fixed=0.004, per_request=0.001)
        scheduler = ModelScheduler("m", [executor], _adaptive(0), clock=clock)
        for size in (1, 3, 1, 3, 5):
            executor.hold()
            calls = [scheduler.predict(_wire(f"{size}-{i}")) for i in range(size + 1)]
            executor.release()  # the first call ran alone; the rest leave as one batch of size
            await asyncio.gather(*calls)
        return scheduler

    cost = run(main).cost
    assert cost.fixed == pytest.approx(0.004, rel=1e-6)
    assert cost.per_request == pytest.approx(0.001, rel=1e-6)


def test_with_nothing_measured_yet_a_lone_request_never_waits(run) -> None:
    async def main() -> tuple[RecordingExecutor, CountingObserver]:
        executor, observer = RecordingExecutor(), CountingObserver()
        scheduler = ModelScheduler("m", [executor], _adaptive(), observer, clock=FakeClock())
        await scheduler.predict(_wire("1"))  # a 60 s delay allowed, none taken
        return executor, observer

    executor, observer = run(main)
    assert executor.batches == [["1"]]
    assert observer.reasons == ["idle"]


def test_requests_slower_than_a_trips_fixed_cost_go_out_at_once(run) -> None:
    async def main() -> tuple[RecordingExecutor, CountingObserver]:
        clock, executor, observer = FakeClock(), RecordingExecutor(), CountingObserver()
        scheduler = ModelScheduler("m", [executor], _adaptive(), observer, clock=clock)
        _teach(scheduler, clock, fixed=0.001, gap=0.005)  # a request every 5 ms, trips 1 ms
        await scheduler.predict(_wire("1"))
        return executor, observer

    executor, observer = run(main)
    assert executor.batches == [["1"]]
    assert observer.reasons == ["idle"]


def test_requests_faster_than_a_trips_fixed_cost_wait_up_to_that_cost(run) -> None:
    async def main() -> tuple[RecordingExecutor, CountingObserver]:
        clock, executor, observer = FakeClock(), RecordingExecutor(), CountingObserver()
        scheduler = ModelScheduler("m", [executor], _adaptive(), observer, clock=clock)
        _teach(scheduler, clock, fixed=0.010, gap=0.001)  # a request every 1 ms, trips 10 ms
        first = scheduler.predict(_wire("1"))
        await asyncio.sleep(0.02)  # the loop's timer fired; the clock says no time passed
        assert executor.batches == []
        clock.now += 0.004
        second = scheduler.predict(_wire("2"))  # still inside the 10 ms it may wait
        assert executor.batches == []
        clock.now += 0.006  # 10 ms, the fixed cost, far below the 60 s max_queue_delay_ms
        await asyncio.gather(first, second)
        return executor, observer

    executor, observer = run(main)
    assert executor.batches == [["1", "2"]]
    assert observer.reasons == ["delay"]


def test_a_steady_stream_keeps_a_batch_waiting_past_the_fixed_cost_until_it_is_full(run) -> None:
    async def main() -> tuple[RecordingExecutor, CountingObserver]:
        clock, executor, observer = FakeClock(), RecordingExecutor(), CountingObserver()
        scheduler = ModelScheduler("m", [executor], _adaptive(), observer, clock=clock)
        _teach(scheduler, clock, fixed=0.001, gap=0.0002)  # 0.2 ms apart, trips 1 ms
        calls = []
        for index in range(8):  # the eighth comes 1.4 ms after the first: past the fixed cost
            calls.append(scheduler.predict(_wire(str(index))))
            await asyncio.sleep(0.005)  # timers due meanwhile fire and look again
            clock.now += 0.0002
        await asyncio.gather(*calls)
        return executor, observer

    executor, observer = run(main)
    assert executor.batches == [[str(index) for index in range(8)]]
    assert observer.reasons == ["full"]


def test_a_pause_in_arrivals_sends_the_waiting_batch_long_before_the_limit(run) -> None:
    async def main() -> tuple[RecordingExecutor, CountingObserver, float]:
        clock, executor, observer = FakeClock(), RecordingExecutor(), CountingObserver()
        scheduler = ModelScheduler("m", [executor], _adaptive(), observer, clock=clock)
        _teach(scheduler, clock, fixed=0.001, gap=0.0002)
        start = clock.now
        calls = []
        for index in range(3):
            calls.append(scheduler.predict(_wire(str(index))))
            clock.now += 0.0002
        await asyncio.sleep(0.01)
        assert executor.batches == []  # inside the fixed cost: still waiting
        clock.now = start + 0.0015  # no one came for over two gaps, and the fixed cost is over
        await asyncio.gather(*calls)
        return executor, observer, clock.now - start

    executor, observer, waited = run(main)
    assert executor.batches == [["0", "1", "2"]]
    assert observer.reasons == ["delay"]
    assert waited < 0.002  # the limit was 60 s


def test_a_full_or_preferred_batch_says_why_it_left(run) -> None:
    async def main() -> CountingObserver:
        executor, observer = RecordingExecutor(), CountingObserver()
        batching = BatchingConfig(max_batch_size=2, preferred_batch_sizes=(1, 2))
        scheduler = ModelScheduler("m", [executor], batching, observer)
        executor.hold()
        calls = [scheduler.predict(_wire(rid)) for rid in "123"]  # 1 alone, then 2 and 3
        executor.release()
        await asyncio.gather(*calls)
        return observer

    assert run(main).reasons == ["preferred", "full"]
