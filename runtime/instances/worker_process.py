"""A worker's OS process: its settings, starting and ending it and its group, its restart budget.

No state of a running instance lives here (runtime/instances/worker_supervisor.py keeps that):
these are the steps the supervisor takes on a process, and the error a call gets when the
process is down.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import spawn
from typing import Any

from registry.errors import ErrorCode, ModelrtError
from runtime.instances.executor import InstanceSpec
from runtime.instances.ipc import Channel, channel_pair
from runtime.instances.proctree import end_group
from runtime.instances.worker_main import worker_entry
from runtime.instances.worker_protocol import WorkerError, envelope, error_from

_CONTEXT = multiprocessing.get_context("spawn")
_SPAWN_LOCK = threading.Lock()


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


class InstanceDownError(ModelrtError):
    """The worker itself failed (crash, hang, exit, unreachable): its calls cannot be answered."""

    code = ErrorCode.UNAVAILABLE
    reason = "INSTANCE_DOWN"


def instance_label(spec: InstanceSpec) -> str:
    """How log lines and errors name an instance: ``model 'iris' instance 0``."""
    return f"model {spec.name!r} instance {spec.index}"


def instance_down(text: str, model: str) -> WorkerError:
    """The error a call of ``model`` gets when its worker is down: ``text`` says why."""
    return error_from(envelope(InstanceDownError(text, metadata={"model": model})))


@contextmanager
def _no_main_module() -> Iterator[None]:
    """Let spawn see no main module while it describes this process to a child.

    spawn re-runs the parent's main module in the child (as ``__mp_main__``) so that whatever
    was defined there unpickles. Under ``modelrt serve`` that module is the console script,
    which imports the whole CLI and client (click, rich, grpc: about 20 MiB) into every worker
    for nothing: a worker's target and arguments live in importable modules. A bare module with
    neither a file nor a spec tells spawn there is nothing to re-run. Callers hold _SPAWN_LOCK.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def start_process(process: Any, python: str | None = None) -> None:
    """Start a spawn-context process, under the interpreter ``python`` when given (a venv's).

    The target and arguments must not come from the main module (see _no_main_module).
    """
    with _SPAWN_LOCK:  # the spawn executable is process-wide: set it only around start()
        previous = spawn.get_executable()
        if python:
            spawn.set_executable(python)
        try:
            with _no_main_module():
                process.start()
        finally:
            spawn.set_executable(previous)


def launch_worker(spec: InstanceSpec, log_level: str) -> tuple[Any, Channel]:
    """Start the worker process of ``spec`` (blocking); return it and the server's pipe end."""
    channel, child_ends = channel_pair(_CONTEXT)
    process = _CONTEXT.Process(
        target=worker_entry,
        args=(*child_ends, spec, os.getpid(), log_level),
        name=f"modelrt-worker-{spec.name}-{spec.index}",
        daemon=True,
    )
    try:
        start_process(process, spec.python)
    except BaseException:
        channel.close()
        raise
    finally:
        for end in child_ends:
            end.close()
    return process, channel


def wait_for_exit(process: Any, timeout: float) -> None:
    """Wait up to ``timeout`` for ``process`` to exit, by its pid.

    Not ``join``: that waits on a pipe which children forked by model code keep open.
    """
    deadline = time.monotonic() + timeout
    while process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)


def kill_worker(process: Any) -> None:
    """SIGKILL ``process`` if it is alive and wait (up to 5s) for it to exit (blocking)."""
    if process is not None and process.is_alive():
        process.kill()
    if process is not None:
        wait_for_exit(process, 5)


async def end_worker_group(process: Any, grace_s: float) -> None:
    """End what model code left in the exited worker's process group (SIGTERM, then SIGKILL).

    The worker leads its group (runtime/instances/worker_main.py), so the group's id is its pid.
    """
    if process is not None and process.pid is not None:
        await asyncio.to_thread(end_group, process.pid, grace_s)


class CrashHistory:
    """An instance's recent crashes: whether to restart it again, and after what backoff.

    >>> history = CrashHistory(WorkerSettings(max_restarts=1, backoff_s=0.5))
    >>> history.record(100.0), history.gave_up(), history.backoff_s()
    (1, False, 0.5)
    >>> history.record(101.0), history.gave_up()
    (2, True)
    """

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._times: deque[float] = deque()

    def record(self, now: float) -> int:
        """One crash at ``now``; return how many fell within the restart window."""
        self._times.append(now)
        while self._times and now - self._times[0] > self._settings.restart_window_s:
            self._times.popleft()
        return len(self._times)

    def gave_up(self) -> bool:
        """Too many crashes within the window: the instance is not restarted again."""
        return len(self._times) > self._settings.max_restarts

    def backoff_s(self) -> float:
        """How long to wait before the next start: doubling per crash, up to the cap."""
        settings = self._settings
        delay: float = settings.backoff_s * 2 ** (len(self._times) - 1)
        return min(delay, settings.max_backoff_s)
