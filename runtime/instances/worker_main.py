"""The worker process: one model instance behind a pipe, served by an InProcessExecutor.

Started by runtime/instances/worker_process.py with the spawn context. It leads a process group
of its own, so the server can end everything model code started along with it. When the server
goes away (the pipe closes, the parent pid changes, or Linux's parent-death signal arrives) it
kills its whole group, itself included.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import queue
import signal
import site
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from multiprocessing.connection import Connection
from typing import Any

from registry.errors import ModelrtError
from runtime.instances.executor import InstanceSpec
from runtime.instances.ipc import Channel, by_shared_memory, is_large
from runtime.instances.outputs import ItemFailure
from runtime.instances.proctree import lead_own_group
from runtime.instances.worker_protocol import (
    Kind,
    Message,
    UnknownMessageError,
    envelope,
    message,
    portable,
)

logger = logging.getLogger(__name__)
_END = object()
_PR_SET_PDEATHSIG = 1
#: The unary kinds, and whether each is batched; keyed by int: no enum lookup per trip.
_UNARY: dict[int, bool] = {Kind.BATCH: True, Kind.EACH: False}


def _prefer_own_site_packages() -> None:
    """spawn copies the server's sys.path; a bundle venv's own packages must come first."""
    own = site.getsitepackages([sys.prefix])  # the venv's own, not its base interpreter's
    sys.path[:] = own + [p for p in sys.path if p not in own]


def take_group_down() -> None:
    """Kill this worker's process group, this process last of all (it is in the group)."""
    if os.getpgrp() == os.getpid():  # never a group this worker does not lead
        with contextlib.suppress(OSError):
            os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(70)


def die_with_parent(parent_pid: int) -> None:
    """Take the worker's group down when the server process goes away (parent-death signal,
    plus a watcher thread for when the signal cannot be delivered)."""
    leader = os.getpid()

    def on_term(signum: int, frame: object) -> None:
        if os.getpid() != leader:  # a child forked by model code inherited this handler
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        take_group_down()

    signal.signal(signal.SIGTERM, on_term)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                take_group_down()
            time.sleep(0.5)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:
        take_group_down()


class WorkerServer:
    """Dispatches pipe messages to an InProcessExecutor and sends back what it produces."""

    def __init__(self, channel: Channel, spec: InstanceSpec) -> None:
        from runtime.instances.inprocess import InProcessExecutor

        self.channel = channel
        self.spec = spec
        pool = concurrent.futures.ThreadPoolExecutor(spec.max_sync_workers, "model-hook")
        self.executor = InProcessExecutor(
            spec, pool, asyncio.Semaphore(spec.max_concurrent_streams)
        )
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.inboxes: dict[int, asyncio.Queue[Any]] = {}
        self.stopped = asyncio.Event()
        self.asked_to_stop = False
        self.serving = False
        # Sync unary hooks run off the event loop, in arrival order: on the pipe reader thread
        # itself when the model only predicts (no hop at all), else on an instance thread fed
        # by the reader, so Generate and Stream messages never wait behind a predict.
        self.inline_unary = False
        self.unary: queue.SimpleQueue[Any] | None = None
        self.handlers: dict[int, Callable[[int, Any], None]] = {
            Kind.BATCH: self._on_batch,
            Kind.EACH: self._on_each,
            Kind.GENERATE: self._on_generate,
            Kind.STREAM_OPEN: self._on_stream_open,
            Kind.STREAM_ITEM: self._on_stream_item,
            Kind.STREAM_END: self._on_stream_end,
            Kind.CANCEL: self._on_cancel,
            Kind.PING: self._on_ping,
            Kind.STOP: self._on_stop,
        }

    def send(self, kind: Kind, call: int, payload: Any = None) -> None:
        self.channel.send(message(kind, call, payload))

    def fail(self, call: int, error: BaseException) -> None:
        """Report that call ``call`` failed as a whole (in the one error envelope)."""
        self.send(Kind.ERROR, call, envelope(error, self.spec.name))

    def answer(self, kind: Kind, call: int, payload: Any) -> None:
        """Send Predict answers: encoded bytes or failures, never arrays, so plain pickling;
        a large answer goes through shared memory. ``payload``: a PART (index, answer, last)
        or a RESULT (every answer of a batch)."""
        name = self.spec.name
        if kind is Kind.PART:
            index, item, last = payload
            large = is_large(item)
            payload = (index, by_shared_memory(item) if large else portable(item, name), last)
        else:
            large = failed = False
            for item in payload:  # one pass: it runs for every batch
                if type(item) is ItemFailure:
                    failed = True
                elif is_large(item):
                    large = True
            if failed:
                payload = [portable(item, name) for item in payload]
            if large:
                payload = [by_shared_memory(item) for item in payload]
        if large:
            self.channel.send(message(kind, call, payload))
        else:
            self.channel.send_plain(message(kind, call, payload))

    async def run(self) -> None:
        try:
            loaded = await self.executor.start()
        except ModelrtError as exc:
            self.send(Kind.LOAD_FAILED, 0, envelope(exc, self.spec.name))
            return
        self.send(Kind.READY, 0, loaded)
        self.serving = True
        # The model and everything imported to load it live as long as this process: keep full
        # collections from walking them all again while it serves (see runtime/cli.py).
        gc.collect()
        gc.freeze()
        if self.executor.sync_unary:
            if self.executor.hooks.isdisjoint(("generate", "stream")):
                self.inline_unary = True
            else:
                self.unary = queue.SimpleQueue()
                threading.Thread(target=self._serve_unary, name="instance", daemon=True).start()
        loop = asyncio.get_running_loop()
        reader = threading.Thread(target=self._read, args=(loop,), name="pipe-reader", daemon=True)
        reader.start()
        await self.stopped.wait()
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await self.executor.stop()

    def run_ended_by_server_loss(self) -> bool:
        """Whether serving ended with the pipe closing unasked: the server is gone."""
        return self.serving and not self.asked_to_stop

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while True:
                received = self.channel.recv()
                unary = received[0] in _UNARY
                if unary and self.inline_unary:
                    if not self._unary(received):
                        return
                elif unary and self.unary is not None:
                    self.unary.put(received)
                else:
                    loop.call_soon_threadsafe(self._dispatch, received)
        except (EOFError, OSError):
            pass  # the server closed the pipe
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(self.stopped.set)

    def _serve_unary(self) -> None:
        """The instance thread: runs unary calls in arrival order, one at a time."""
        assert self.unary is not None
        while self._unary(self.unary.get()):
            pass

    def _unary(self, received: Message) -> bool:
        """Run one unary trip and send its answers; False once the pipe is gone.

        Only a failed send means the pipe is gone: anything the trip itself raises (a request
        that cannot be decoded, an answer that cannot be encoded) is that trip's error.
        """
        kind, call, requests = received
        try:
            if _UNARY[kind]:
                answers = self._guarded(call, self.executor.predict_batch_sync, requests)
                if answers is not None:
                    self.answer(Kind.RESULT, call, answers)
            else:
                parts = self.executor.predict_each_sync(requests)
                last = len(requests) - 1
                while (part := self._guarded(call, next, parts, None)) is not None:
                    index, item = part
                    self.answer(Kind.PART, call, (index, item, index == last))
        except (OSError, ValueError):  # the pipe is gone: the server stopped
            return False
        return True

    def _guarded(self, call: int, run: Any, *args: Any) -> Any:
        """``run(*args)``, or None after sending the call's error when it raised."""
        try:
            return run(*args)
        except Exception as exc:
            self.fail(call, exc)
        return None

    def _dispatch(self, received: Message) -> None:
        kind, call, payload = received
        handle = self.handlers.get(kind)  # keyed by int: no enum lookup per message
        if handle is None:  # refused, never ignored: the server's call must not wait for it
            logger.error("refusing a message of unknown kind %r (call %s)", kind, call)
            self.fail(call, UnknownMessageError(kind, "worker"))
        else:
            handle(call, payload)

    def _on_batch(self, call: int, requests: list[Any]) -> None:
        self._spawn(call, self._batch(call, requests))

    def _on_each(self, call: int, requests: list[Any]) -> None:
        self._spawn(call, self._parts(call, requests))

    def _on_generate(self, call: int, request: Any) -> None:
        self._spawn(call, self._items(call, self.executor.generate(request)))

    def _on_stream_open(self, call: int, payload: None) -> None:
        inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.inboxes[call] = inbox
        self._spawn(call, self._items(call, self.executor.stream(_drain(inbox))))

    def _on_stream_item(self, call: int, request: Any) -> None:
        if call in self.inboxes:
            self.inboxes[call].put_nowait(request)

    def _on_stream_end(self, call: int, payload: None) -> None:
        if call in self.inboxes:
            self.inboxes[call].put_nowait(_END)

    def _on_cancel(self, call: int, payload: None) -> None:
        task = self.tasks.get(call)
        if task is not None:
            task.cancel()

    def _on_ping(self, call: int, payload: None) -> None:
        """The server's idle liveness check: answered by this loop, so a frozen one never does."""
        self.send(Kind.PONG, call)

    def _on_stop(self, call: int, payload: None) -> None:
        self.asked_to_stop = True  # the server ends the worker's group, with a grace period
        self.stopped.set()

    def _spawn(self, call: int, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks[call] = task

        def forget(_: object) -> None:
            self.tasks.pop(call, None)
            self.inboxes.pop(call, None)

        task.add_done_callback(forget)

    async def _batch(self, call: int, requests: list[Any]) -> None:
        try:
            results = await self.executor.predict_batch(requests)
        except Exception as exc:
            self.fail(call, exc)
        else:
            self.answer(Kind.RESULT, call, results)

    async def _parts(self, call: int, requests: list[Any]) -> None:
        last = len(requests) - 1

        def send(index: int, item: Any) -> None:
            self.answer(Kind.PART, call, (index, item, index == last))

        try:
            await self.executor.predict_each(requests, send)
        except Exception as exc:
            self.fail(call, exc)

    async def _items(self, call: int, items: Any) -> None:
        try:
            async with aclosing(items):
                async for item in items:
                    self.send(Kind.ITEM, call, portable(item, self.spec.name))
        except asyncio.CancelledError:
            return
        except Exception as exc:
            self.fail(call, exc)
        else:
            self.send(Kind.END, call)


async def _drain(inbox: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    while (item := await inbox.get()) is not _END:
        yield item


def worker_entry(
    reader: Connection, writer: Connection, spec: InstanceSpec, parent_pid: int, log_level: str
) -> None:
    """Entry point of a worker process (a target for multiprocessing's spawn context)."""
    lead_own_group()
    # The server starts workers as daemons, which multiprocessing forbids to have children;
    # the group contains them instead, so model code may (DataLoader workers, pools).
    multiprocessing.current_process().daemon = False
    if spec.python:
        _prefer_own_site_packages()
    os.environ.update(spec.env)
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    logging.basicConfig(
        level=log_level,
        format=f"%(asctime)s %(levelname)s worker[{spec.name}:{spec.index}] %(name)s: %(message)s",
    )
    channel = Channel(reader, writer)
    server: WorkerServer | None = None
    try:
        server = WorkerServer(channel, spec)
        asyncio.run(server.run())
    finally:
        channel.close()
        logging.shutdown()
        if server is not None and server.run_ended_by_server_loss():
            take_group_down()  # the server is gone: nobody else will end model code's children
        # Model threads may still be inside user code: do not wait for them.
        os._exit(0)
