"""Keeps one instance's worker process alive: start, read the pipe, exit, restart, stop, watchdog.

When the process dies or hangs, the calls it held fail with UNAVAILABLE naming the model, and it
is restarted with backoff; after too many crashes in a short time the instance gives up and the
model goes FAILED with the reason. Calls reach the worker through ``send`` and their answers go
to the CallBook (runtime/instances/worker_calls.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from registry.errors import ModelrtError
from runtime.instances.executor import InstanceEvent, InstanceSpec, LoadedModel
from runtime.instances.ipc import Channel
from runtime.instances.worker_calls import CallBook
from runtime.instances.worker_memory import MemoryGuard
from runtime.instances.worker_process import (
    CrashHistory,
    WorkerSettings,
    end_worker_group,
    instance_down,
    instance_label,
    kill_worker,
    launch_worker,
    wait_for_exit,
)
from runtime.instances.worker_protocol import (
    Kind,
    Message,
    UnknownMessageError,
    WorkerError,
    envelope,
    error_from,
    message,
)

logger = logging.getLogger(__name__)


class WorkerSupervisor:
    """The worker process of one instance, its pipe, and what watches over them."""

    def __init__(
        self, spec: InstanceSpec, settings: WorkerSettings, calls: CallBook, memory: MemoryGuard
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.calls = calls
        self.memory = memory
        self.process: Any = None
        self.channel: Channel | None = None
        self._crashes = CrashHistory(settings)
        self._watchdog: asyncio.TimerHandle | None = None
        self._listener: Callable[[InstanceEvent], None] | None = None
        self._stopping = False
        self._up = False
        self._hung = ""
        self._heard = 0.0  # when the worker last sent anything
        self._pinged = 0.0  # when an unanswered liveness ping was sent (0: none is)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restart: asyncio.Task[None] | None = None
        self._handlers: dict[int, Callable[[int, Any], None]] = {
            **calls.handlers(),
            Kind.PONG: self._on_pong,
        }

    @property
    def label(self) -> str:
        return instance_label(self.spec)

    def watch(self, listener: Callable[[InstanceEvent], None]) -> None:
        self._listener = listener

    def _emit(self, kind: Any, reason: str = "") -> None:
        if self._listener is not None:
            self._listener(InstanceEvent(kind, reason))

    # -- start and the pipe ---------------------------------------------------------------------

    async def start(self) -> LoadedModel:
        self._loop = asyncio.get_running_loop()
        if self._watchdog is None:  # from the start: load_model's memory counts too
            self._watch_for_hangs()
        return await self._spawn()

    async def _spawn(self) -> LoadedModel:
        process, channel = await asyncio.to_thread(
            launch_worker, self.spec, self.settings.log_level
        )
        self.process, self.channel = process, channel
        try:
            kind, _, payload = await asyncio.wait_for(
                asyncio.to_thread(channel.recv), self.settings.start_timeout_s
            )
        except (EOFError, OSError, TimeoutError) as exc:
            await asyncio.to_thread(self.kill)  # after a timeout its exit code is the kill's
            await end_worker_group(process, self.settings.tree_grace_s)
            raise self._load_error(exc, process.exitcode) from None
        if kind != Kind.READY:
            await asyncio.to_thread(self.kill)
            await end_worker_group(process, self.settings.tree_grace_s)
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

    def _load_error(self, exc: BaseException, code: int | None) -> WorkerError:
        """Why the worker never said READY: over its memory, too slow, or it exited."""
        reason = self.memory.take_reason()
        if not reason and isinstance(exc, TimeoutError):
            reason = (
                f"{self.label} did not load within {self.settings.start_timeout_s:g}s "
                "(the load timeout); its worker was ended"
            )
        elif not reason:
            reason = f"{self.label} exited while loading (exit code {code})"
        return instance_down(reason, self.spec.name)

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
            self.calls.fail_call(call, envelope(UnknownMessageError(kind, "server")))
        else:
            handle(call, payload)

    def _on_pong(self, call: int, payload: None) -> None:
        self._pinged = 0.0

    # -- exit, restart, stop --------------------------------------------------------------------

    def _on_exit(self, channel: Channel) -> None:
        if channel is not self.channel:
            return
        self._up = False
        wait_for_exit(self.process, 0.1)
        error = self._exit_error(self.process.exitcode)
        self.calls.fail_all(error)
        if not self._stopping:
            self._emit("down", str(error.message))
            self._restart = asyncio.get_running_loop().create_task(
                self._restart_later(self.process, str(error.message))
            )

    def _exit_error(self, code: int | None) -> WorkerError:
        """What the calls of the exited worker fail with: why it stopped, as far as is known."""
        if self.memory.over_limit:
            return instance_down(self.memory.take_reason(), self.spec.name)
        if self._hung:
            where, self._hung = self._hung, ""
            return instance_down(
                f"{self.label} hung {where} for over {self.settings.hang_timeout_s:g}s "
                "and was restarted",
                self.spec.name,
            )
        if not self._stopping:
            logger.error("%s died with exit code %s", self.label, code)
            return instance_down(
                f"{self.label} crashed (exit code {code}); it is being restarted", self.spec.name
            )
        return instance_down(f"{self.label} stopped (exit code {code})", self.spec.name)

    async def _restart_later(self, dead: Any, why: str) -> None:
        # What model code started must not outlive the worker.
        await end_worker_group(dead, self.settings.tree_grace_s)
        crashes = self._crashes.record(time.monotonic())
        if self._crashes.gave_up():
            reason = (
                f"{self.label} crashed {crashes} times in "
                f"{self.settings.restart_window_s:.0f}s; not restarting (last: {why})"
            )
            self._emit("failed", reason)
            return
        await asyncio.sleep(self._crashes.backoff_s())
        if self._stopping:
            return
        try:
            await self._spawn()
        except ModelrtError as exc:
            self._emit("failed", f"{self.label} could not restart: {exc.message}")
            return
        logger.info("%s restarted", self.label)
        self._emit("up")

    def kill(self) -> None:
        """SIGKILL the worker and wait for it to exit (blocking: run it off the loop)."""
        kill_worker(self.process)

    async def kill_hung(self, where: str) -> None:
        """The worker hung ``where``: kill it; its calls fail saying so."""
        self._hung = where
        await asyncio.to_thread(self.kill)

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
        await asyncio.to_thread(self.kill)
        await end_worker_group(process, self.settings.tree_grace_s)
        self.memory.forget()
        if channel is not None:
            self._forget_reader(channel)
            channel.close()

    # -- sending --------------------------------------------------------------------------------

    def send(self, kind: Kind, call: int, payload: Any = None, plain: bool = False) -> None:
        """Send a message; ``plain`` when it holds no numpy arrays (see Channel.send_plain)."""
        if not self._up or self.channel is None:
            raise instance_down(f"{self.label} is restarting", self.spec.name)
        try:
            if plain:
                self.channel.send_plain(message(kind, call, payload))
            else:
                self.channel.send(message(kind, call, payload))
        except (OSError, ValueError) as exc:
            raise instance_down(f"{self.label} is unreachable: {exc}", self.spec.name) from None

    def cancel(self, call: int) -> None:
        """Tell the worker to stop ``call``, if it is there to tell."""
        if self._up and self.channel is not None:
            with contextlib.suppress(OSError, ValueError):
                self.channel.send(message(Kind.CANCEL, call))

    # -- the watchdog ---------------------------------------------------------------------------

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
        self.memory.sample(self._loop, self.process, self._watching)
        if not self._up:
            return
        channel, process = self.channel, self.process
        if channel is not None and process is not None and not process.is_alive():
            # Children forked by model code hold the pipe open: no EOF tells of the exit.
            self._forget_reader(channel)
            self._on_exit(channel)
            return
        now = time.monotonic()
        if self.calls.stalled(now, limit):
            self._end_hung("in predict")
        elif self._pinged and now - max(self._pinged, self._heard) > limit:
            self._end_hung("while idle (no answer to a liveness ping)")
        elif not self._pinged and now - self._heard > period and self.channel is not None:
            # The worker's event loop answers: a frozen process or loop never does.
            with contextlib.suppress(OSError, ValueError):
                self.channel.send_plain(message(Kind.PING))
                self._pinged = now

    def _watching(self, process: Any) -> bool:
        """Whether ``process`` is still the worker this supervisor keeps."""
        return process is self.process and not self._stopping

    def _end_hung(self, where: str) -> None:
        logger.error("%s hung %s; killing it", self.label, where)
        self._hung = where
        if self.process is not None and self.process.is_alive():
            self.process.kill()
