"""Runs a model instance in a worker process of its own, and keeps it alive.

The server side of runtime/worker_main.py: requests go down a pipe (tensors through shared
memory), items come back as the model produces them. When the process dies or hangs, the calls
it held fail with UNAVAILABLE naming the model, and it is restarted with backoff; after too many
crashes in a short time the instance gives up and the model goes FAILED with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from multiprocessing import spawn
from typing import Any, Protocol

from registry.errors import ErrorCode, ModelrtError
from runtime.instances.executor import (
    Executor,
    InstanceEvent,
    InstanceSpec,
    Item,
    LoadedModel,
    OnBatchDone,
    OnEachDone,
    OnResult,
)
from runtime.instances.ipc import Channel, by_shared_memory, channel_pair, is_large
from runtime.instances.outputs import ItemFailure
from runtime.instances.payload import Answer, StreamInput, WireRequest
from runtime.instances.proctree import MemorySampler, MiB, end_group, signal_group
from runtime.instances.worker_main import worker_entry
from runtime.instances.worker_protocol import (
    ErrorEnvelope,
    Kind,
    Message,
    UnknownMessageError,
    WorkerError,
    envelope,
    error_from,
    message,
)

logger = logging.getLogger(__name__)
_CONTEXT = multiprocessing.get_context("spawn")
_SPAWN_LOCK = threading.Lock()
_EXIT = object()


@dataclass(slots=True)
class _Trip:
    """One unary call in the worker: its callbacks, and when it last made progress."""

    on_result: OnResult | None
    on_done: Callable[[Any], None]
    since: float


@dataclass(frozen=True)
class WorkerSettings:
    """How worker processes are supervised."""

    start_timeout_s: float = 300.0
    hang_timeout_s: float = 300.0
    max_restarts: int = 5
    restart_window_s: float = 60.0
    backoff_s: float = 0.5
    max_backoff_s: float = 10.0
    log_level: str = "INFO"
    memory_limit_mb: int = 0  # resident memory of a worker's process group; 0 = unlimited
    tree_grace_s: float = 2.0  # SIGTERM to SIGKILL, for what model code left in the group


class MemoryObserver(Protocol):
    """Told each instance's resident memory, and when one is stopped for exceeding its limit."""

    def observe_instance_memory(self, model: str, instance: int, used: int | None) -> None: ...

    def count_memory_limit_exceeded(self, model: str) -> None: ...


class InstanceDownError(ModelrtError):
    """The worker itself failed (crash, hang, exit, unreachable): its calls cannot be answered."""

    code = ErrorCode.UNAVAILABLE
    reason = "INSTANCE_DOWN"


def _unavailable(text: str, model: str) -> WorkerError:
    return error_from(envelope(InstanceDownError(text, metadata={"model": model})))


def start_process(process: Any, python: str | None = None) -> None:
    """Start a spawn-context process, under the interpreter ``python`` when given (a venv's)."""
    with _SPAWN_LOCK:  # the spawn executable is process-wide: set it only around start()
        previous = spawn.get_executable()
        if python:
            spawn.set_executable(python)
        try:
            process.start()
        finally:
            spawn.set_executable(previous)


def wait_for_exit(process: Any, timeout: float) -> None:
    """Wait up to ``timeout`` for ``process`` to exit, by its pid.

    Not ``join``: that waits on a pipe which children forked by model code keep open.
    """
    deadline = time.monotonic() + timeout
    while process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)


class WorkerExecutor(Executor):
    """One model instance in its own process (spawn context), supervised."""

    def __init__(
        self,
        spec: InstanceSpec,
        settings: WorkerSettings,
        sampler: MemorySampler | None = None,
        observer: MemoryObserver | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.sampler = sampler or MemorySampler(0.5)
        self.observer = observer
        configured = spec.prepared.config.memory_limit_mb
        self.memory_limit_mb = settings.memory_limit_mb if configured is None else configured
        self._sampling = False
        self._over_limit = ""
        self.process: Any = None
        self.channel: Channel | None = None
        self.loaded: LoadedModel | None = None
        self._calls = itertools.count(1)
        self._trips: dict[int, _Trip] = {}  # unary calls the worker still owes answers to
        self._streams: dict[int, asyncio.Queue[Any]] = {}
        self._watchdog: asyncio.TimerHandle | None = None
        self._listener: Callable[[InstanceEvent], None] | None = None
        self._crashes: deque[float] = deque()
        self._stopping = False
        self._up = False
        self._hung = ""
        self._heard = 0.0  # when the worker last sent anything
        self._pinged = 0.0  # when an unanswered liveness ping was sent (0: none is)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restart: asyncio.Task[None] | None = None
        self._handlers: dict[int, Callable[[int, Any], None]] = {
            Kind.PART: self._on_part,
            Kind.RESULT: self._on_result,
            Kind.ERROR: self._fail_call,
            Kind.PONG: self._on_pong,
            Kind.ITEM: self._on_item,
            Kind.END: self._on_end,
        }

    @property
    def label(self) -> str:
        return f"model {self.spec.name!r} instance {self.spec.index}"

    def watch(self, listener: Callable[[InstanceEvent], None]) -> None:
        self._listener = listener

    def _emit(self, kind: Any, reason: str = "") -> None:
        if self._listener is not None:
            self._listener(InstanceEvent(kind, reason))

    # -- process lifecycle ----------------------------------------------------------------------

    async def start(self) -> LoadedModel:
        self._loop = asyncio.get_running_loop()
        if self._watchdog is None:  # from the start: load_model's memory counts too
            self._watch_for_hangs()
        self.loaded = await self._spawn()
        return self.loaded

    def _launch(self) -> tuple[Any, Channel]:
        channel, child_ends = channel_pair(_CONTEXT)
        process = _CONTEXT.Process(
            target=worker_entry,
            args=(*child_ends, self.spec, os.getpid(), self.settings.log_level),
            name=f"modelrt-worker-{self.spec.name}-{self.spec.index}",
            daemon=True,
        )
        try:
            start_process(process, self.spec.python)
        except BaseException:
            channel.close()
            raise
        finally:
            for end in child_ends:
                end.close()
        return process, channel

    async def _spawn(self) -> LoadedModel:
        process, channel = await asyncio.to_thread(self._launch)
        self.process, self.channel = process, channel
        try:
            kind, _, payload = await asyncio.wait_for(
                asyncio.to_thread(channel.recv), self.settings.start_timeout_s
            )
        except (EOFError, OSError, TimeoutError) as exc:
            await asyncio.to_thread(self._kill)  # after a timeout its exit code is the kill's
            await self._end_tree(process)
            over_limit, self._over_limit = self._over_limit, ""
            raise _unavailable(
                over_limit
                or (
                    f"{self.label} did not load within {self.settings.start_timeout_s:g}s "
                    "(the load timeout); its worker was ended"
                    if isinstance(exc, TimeoutError)
                    else f"{self.label} exited while loading (exit code {process.exitcode})"
                ),
                self.spec.name,
            ) from None
        if kind != Kind.READY:
            await asyncio.to_thread(self._kill)
            await self._end_tree(process)
            if kind == Kind.LOAD_FAILED:
                raise error_from(payload)
            raise error_from(envelope(UnknownMessageError(kind, "server")))
        assert self._loop is not None
        # Read the pipe on the event loop itself: no reader thread, no hop per message.
        self._loop.add_reader(channel.fileno(), self._readable, channel)
        self._up = True
        self._heard, self._pinged = time.monotonic(), 0.0
        if self._watchdog is None:
            self._watch_for_hangs()
        return payload  # type: ignore[no-any-return]

    def _readable(self, channel: Channel) -> None:
        try:
            messages = channel.drain()  # every message waiting, in one read
        except (EOFError, OSError):
            self._forget_reader(channel)
            self._on_exit(channel)
            return
        self._heard = time.monotonic()
        for received in messages:
            try:
                self._on_message(received)
            except Exception:  # a callback's bug must not lose the other messages
                logger.exception("%s: handling a %r message failed", self.label, received[0])

    def _forget_reader(self, channel: Channel) -> None:
        if self._loop is not None and not channel.closed:
            self._loop.remove_reader(channel.fileno())

    def _on_message(self, received: Message) -> None:
        kind, call, payload = received
        handle = self._handlers.get(kind)  # keyed by int: no enum lookup per message
        if handle is None:  # refused, never ignored: the call it belongs to would wait forever
            logger.error("%s: refusing a message of unknown kind %r", self.label, kind)
            self._fail_call(call, envelope(UnknownMessageError(kind, "server")))
        else:
            handle(call, payload)

    def _on_part(self, call: int, payload: Any) -> None:
        """One request of an unbatched trip is answered: hand it over now."""
        trip = self._trips.get(call)
        if trip is None:
            return
        index, item, last = payload
        assert trip.on_result is not None
        if last:
            del self._trips[call]
        try:
            trip.on_result(index, item)
        finally:  # the trip ends (and frees its instance) even if a callback failed
            if last:
                trip.on_done(None)
            else:  # the next request of the trip now owes its answer
                trip.since = time.monotonic()

    def _on_result(self, call: int, answers: Any) -> None:
        trip = self._trips.pop(call, None)
        if trip is not None:
            trip.on_done(answers)

    def _on_pong(self, call: int, payload: None) -> None:
        self._pinged = 0.0

    def _on_item(self, call: int, item: Any) -> None:
        if call in self._streams:
            self._streams[call].put_nowait(item)

    def _on_end(self, call: int, payload: None) -> None:
        if call in self._streams:
            self._streams[call].put_nowait(_EXIT)

    def _fail_call(self, call: int, sent: ErrorEnvelope) -> None:
        """Call ``call`` failed as a whole: end its trip or its stream with the error."""
        trip = self._trips.pop(call, None)
        if trip is not None:
            trip.on_done(error_from(sent))
        elif call in self._streams:
            self._streams[call].put_nowait(error_from(sent))

    def _on_exit(self, channel: Channel) -> None:
        if channel is not self.channel:
            return
        self._up = False
        wait_for_exit(self.process, 0.1)
        code = self.process.exitcode
        error = _unavailable(f"{self.label} stopped (exit code {code})", self.spec.name)
        if self._over_limit:
            error = _unavailable(self._over_limit, self.spec.name)
            self._over_limit = ""
        elif self._hung:
            error = _unavailable(
                f"{self.label} hung {self._hung} for over {self.settings.hang_timeout_s:g}s "
                "and was restarted",
                self.spec.name,
            )
            self._hung = ""
        elif not self._stopping:
            logger.error("%s died with exit code %s", self.label, code)
            error = _unavailable(
                f"{self.label} crashed (exit code {code}); it is being restarted",
                self.spec.name,
            )
        trips, self._trips = list(self._trips.values()), {}
        for trip in trips:
            trip.on_done(error)
        for queue in self._streams.values():
            queue.put_nowait(error)
        if not self._stopping:
            self._emit("down", str(error.message))
            self._restart = asyncio.get_running_loop().create_task(
                self._restart_later(self.process, str(error.message))
            )

    async def _restart_later(self, dead: Any, why: str) -> None:
        await self._end_tree(dead)  # what model code started must not outlive the worker
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > self.settings.restart_window_s:
            self._crashes.popleft()
        if len(self._crashes) > self.settings.max_restarts:
            reason = (
                f"{self.label} crashed {len(self._crashes)} times in "
                f"{self.settings.restart_window_s:.0f}s; not restarting (last: {why})"
            )
            self._emit("failed", reason)
            return
        delay = min(
            self.settings.backoff_s * 2 ** (len(self._crashes) - 1), self.settings.max_backoff_s
        )
        await asyncio.sleep(delay)
        if self._stopping:
            return
        try:
            await self._spawn()
        except ModelrtError as exc:
            self._emit("failed", f"{self.label} could not restart: {exc.message}")
            return
        logger.info("%s restarted", self.label)
        self._emit("up")

    def _kill(self) -> None:
        process = self.process
        if process is not None and process.is_alive():
            process.kill()
        if process is not None:
            wait_for_exit(process, 5)

    async def _end_tree(self, process: Any) -> None:
        """End what model code left in the exited worker's process group (SIGTERM, then SIGKILL).

        The worker leads its group (runtime/worker_main.py), so the group's id is its pid.
        """
        if process is not None and process.pid is not None:
            await asyncio.to_thread(end_group, process.pid, self.settings.tree_grace_s)

    async def stop(self) -> None:
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
        channel, process = self.channel, self.process
        if channel is not None and process is not None and process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                channel.send(message(Kind.STOP))
            await asyncio.to_thread(wait_for_exit, process, 5)
        await asyncio.to_thread(self._kill)
        await self._end_tree(process)
        if self.observer is not None:
            self.observer.observe_instance_memory(self.spec.name, self.spec.index, None)
        if channel is not None:
            self._forget_reader(channel)
            channel.close()

    # -- calls ----------------------------------------------------------------------------------

    def _send(self, kind: Kind, call: int, payload: Any = None, plain: bool = False) -> None:
        """Send a message; ``plain`` when it holds no numpy arrays (see Channel.send_plain)."""
        if not self._up or self.channel is None:
            raise _unavailable(f"{self.label} is restarting", self.spec.name)
        try:
            if plain:
                self.channel.send_plain(message(kind, call, payload))
            else:
                self.channel.send(message(kind, call, payload))
        except (OSError, ValueError) as exc:
            raise _unavailable(f"{self.label} is unreachable: {exc}", self.spec.name) from None

    def _watch_for_hangs(self) -> None:
        """Every so often, kill the worker if a unary call made no progress for hang_timeout_s,
        or if, quiet, it left a liveness ping unanswered that long (frozen while idle).

        One timer per instance, not one per call: the hot path only stamps progress times.
        """
        assert self._loop is not None
        limit = self.settings.hang_timeout_s
        period = min(1.0, limit / 4)
        self._watchdog = self._loop.call_later(period, self._watch_for_hangs)
        if self._stopping:
            return
        self._sample_memory()
        if not self._up:
            return
        channel, process = self.channel, self.process
        if channel is not None and process is not None and not process.is_alive():
            # Children forked by model code hold the pipe open: no EOF tells of the exit.
            self._forget_reader(channel)
            self._on_exit(channel)
            return
        now = time.monotonic()
        if any(now - trip.since > limit for trip in self._trips.values()):
            self._end_hung("in predict")
        elif self._pinged and now - max(self._pinged, self._heard) > limit:
            self._end_hung("while idle (no answer to a liveness ping)")
        elif not self._pinged and now - self._heard > period and self.channel is not None:
            # The worker's event loop answers: a frozen process or loop never does.
            with contextlib.suppress(OSError, ValueError):
                self.channel.send_plain(message(Kind.PING))
                self._pinged = now

    def _end_hung(self, where: str) -> None:
        logger.error("%s hung %s; killing it", self.label, where)
        self._hung = where
        if self.process is not None and self.process.is_alive():
            self.process.kill()

    def _sample_memory(self) -> None:
        """Measure the worker's process group off the loop; the answer goes to _memory_sampled."""
        process = self.process
        if not self.memory_limit_mb and self.observer is None:
            return  # nobody asks (run-local without a limit)
        if self._sampling or process is None or process.pid is None or not process.is_alive():
            return
        assert self._loop is not None
        self._sampling = True
        sampled = self._loop.run_in_executor(None, self.sampler.group_bytes, process.pid)
        sampled.add_done_callback(lambda future: self._memory_sampled(process, future))

    def _memory_sampled(self, process: Any, sampled: asyncio.Future[int]) -> None:
        """Report the instance's memory; stop its whole group when it is over the limit."""
        self._sampling = False
        if process is not self.process or self._stopping or sampled.cancelled():
            return
        if sampled.exception() is not None:
            logger.warning("%s: measuring memory failed: %s", self.label, sampled.exception())
            return
        used = sampled.result()
        if self.observer is not None and used:
            self.observer.observe_instance_memory(self.spec.name, self.spec.index, used)
        limit = self.memory_limit_mb
        if not limit or used <= limit * MiB or self._over_limit or not process.is_alive():
            return
        self._over_limit = (
            f"{self.label} exceeded its memory limit of {limit} MiB "
            f"({used / MiB:.0f} MiB resident) and was stopped"
        )
        logger.error("%s; killing its process group", self._over_limit)
        if self.observer is not None:
            self.observer.count_memory_limit_exceeded(self.spec.name)
        signal_group(process.pid, signal.SIGKILL)

    def _submit(self, kind: Kind, requests: list[WireRequest], trip: _Trip) -> None:
        call = next(self._calls)
        self._trips[call] = trip
        large = any(is_large(data) for data, _ in requests)
        if large:  # big tensors: through shared memory, not the pipe
            requests = [(by_shared_memory(data), rid) for data, rid in requests]
        try:
            self._send(kind, call, requests, plain=not large)
        except ModelrtError:
            del self._trips[call]
            raise

    def submit_batch(self, requests: list[WireRequest], on_done: OnBatchDone) -> None:
        self._submit(Kind.BATCH, requests, _Trip(None, on_done, time.monotonic()))

    def submit_each(
        self, requests: list[WireRequest], on_result: OnResult, on_done: OnEachDone
    ) -> None:
        self._submit(Kind.EACH, requests, _Trip(on_result, on_done, time.monotonic()))

    async def predict_batch(self, requests: list[WireRequest]) -> list[Answer]:
        future: asyncio.Future[list[Answer]] = asyncio.get_running_loop().create_future()
        self.submit_batch(requests, lambda result: _resolve(future, result))
        return await future

    async def predict_each(self, requests: list[WireRequest], on_result: OnResult) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.submit_each(requests, on_result, lambda error: _resolve(future, error))
        await future

    def _cancel(self, call: int) -> None:
        if self._up and self.channel is not None:
            with contextlib.suppress(OSError, ValueError):
                self.channel.send(message(Kind.CANCEL, call))

    async def _receive(
        self, call: int, queue: asyncio.Queue[Any], item_timeout: float | None
    ) -> AsyncGenerator[Any, None]:
        finished = False
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), item_timeout)
                except TimeoutError:
                    self._hung = "in generate"
                    await asyncio.to_thread(self._kill)
                    item = await queue.get()  # the error the worker's exit put there
                if item is _EXIT:
                    finished = True
                    return
                if isinstance(item, BaseException):
                    finished = True
                    raise item
                yield item
        finally:
            self._streams.pop(call, None)
            if not finished:
                self._cancel(call)

    def _send_request(self, kind: Kind, call: int, request: WireRequest) -> None:
        """Send one request of a Generate or Stream call (big ones through shared memory)."""
        data, rid = request
        large = is_large(data)
        self._send(kind, call, (by_shared_memory(data), rid) if large else request, plain=not large)

    async def generate(self, request: WireRequest) -> AsyncGenerator[Item, None]:
        call = next(self._calls)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._streams[call] = queue
        try:
            self._send_request(Kind.GENERATE, call, request)
        except ModelrtError:
            self._streams.pop(call, None)
            raise
        receiving = self._receive(call, queue, self.settings.hang_timeout_s)
        async with aclosing(receiving) as items:
            async for item in items:
                yield item

    async def stream(self, requests: AsyncIterator[StreamInput]) -> AsyncGenerator[Item, None]:
        call = next(self._calls)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._streams[call] = queue
        self._send(Kind.STREAM_OPEN, call)

        async def pump() -> None:
            try:
                async for request in requests:
                    if isinstance(request, ModelrtError):  # refused already: answered here
                        queue.put_nowait(ItemFailure(request))
                    else:
                        self._send_request(Kind.STREAM_ITEM, call, request)
            finally:
                if call in self._streams:
                    self._send(Kind.STREAM_END, call)

        pumping = asyncio.create_task(pump())
        try:
            async with aclosing(self._receive(call, queue, None)) as items:
                async for item in items:
                    yield item
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def make_worker_factory(
    settings: WorkerSettings, observer: MemoryObserver | None = None
) -> Callable[[InstanceSpec], Executor]:
    """An ExecutorFactory that runs each instance in its own worker process.

    Its instances share one memory sampler: one /proc scan serves them all.
    """
    sampler = MemorySampler(0.5)

    def build(spec: InstanceSpec) -> Executor:
        return WorkerExecutor(spec, settings, sampler, observer)

    return build
