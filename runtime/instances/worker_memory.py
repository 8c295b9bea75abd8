"""A worker's memory: measuring its process group, reporting it, and stopping it over its limit.

The supervisor asks for a sample on every watchdog tick; the /proc scan runs off the event loop
and its answer comes back on it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any, Protocol

from runtime.instances.proctree import MemorySampler, MiB, signal_group

logger = logging.getLogger(__name__)


class MemoryObserver(Protocol):
    """Told each instance's resident memory, and when one is stopped for exceeding its limit."""

    def observe_instance_memory(self, model: str, instance: int, used: int | None) -> None: ...

    def count_memory_limit_exceeded(self, model: str) -> None: ...


class MemoryGuard:
    """The memory of one instance's worker: sampled, reported, and held to ``limit_mb`` (0: none).

    ``over_limit`` says why the worker was stopped, until ``take_reason`` hands it over.
    """

    def __init__(
        self,
        model: str,
        instance: int,
        label: str,
        limit_mb: int,
        sampler: MemorySampler,
        observer: MemoryObserver | None,
    ) -> None:
        self.model, self.instance, self.label = model, instance, label
        self.limit_mb = limit_mb
        self.sampler = sampler
        self.observer = observer
        self.over_limit = ""
        self._sampling = False

    def take_reason(self) -> str:
        """Why the worker was stopped for its memory ("" if it was not); forgets it."""
        reason, self.over_limit = self.over_limit, ""
        return reason

    def sample(
        self, loop: asyncio.AbstractEventLoop, process: Any, watched: Callable[[Any], bool]
    ) -> None:
        """Measure ``process``'s group off the loop; the answer counts if ``watched(process)``."""
        if not self.limit_mb and self.observer is None:
            return  # nobody asks (run-local without a limit)
        if self._sampling or process is None or process.pid is None or not process.is_alive():
            return
        self._sampling = True
        sampled = loop.run_in_executor(None, self.sampler.group_bytes, process.pid)
        sampled.add_done_callback(lambda future: self._sampled(process, future, watched))

    def _sampled(
        self, process: Any, sampled: asyncio.Future[int], watched: Callable[[Any], bool]
    ) -> None:
        """Report the instance's memory; stop its whole group when it is over the limit."""
        self._sampling = False
        if not watched(process) or sampled.cancelled():
            return
        if sampled.exception() is not None:
            logger.warning("%s: measuring memory failed: %s", self.label, sampled.exception())
            return
        used = sampled.result()
        if self.observer is not None and used:
            self.observer.observe_instance_memory(self.model, self.instance, used)
        limit = self.limit_mb
        if not limit or used <= limit * MiB or self.over_limit or not process.is_alive():
            return
        self.over_limit = (
            f"{self.label} exceeded its memory limit of {limit} MiB "
            f"({used / MiB:.0f} MiB resident) and was stopped"
        )
        logger.error("%s; killing its process group", self.over_limit)
        if self.observer is not None:
            self.observer.count_memory_limit_exceeded(self.model)
        signal_group(process.pid, signal.SIGKILL)

    def forget(self) -> None:
        """The instance stopped: its memory series goes."""
        if self.observer is not None:
            self.observer.observe_instance_memory(self.model, self.instance, None)
