"""The fleet of helper gRPC front ends (``--frontends N``): started, watched, restarted, stopped.

The main process is front end 0; slots 1..N-1 are helper processes (runtime/api/
frontend_process.py). Each gets its launch line on stdin, which stays open for as long as the
main process lives (its end tells a helper that the main process is gone), and answers ``ready``
on stdout once it listens. A helper that exits while the fleet runs is restarted at once (after
a pause when it keeps dying at start). ``on_change(up, total)`` follows the count of helpers up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)
MODULE = "runtime.api.frontend_process"
READY = b"ready"
START_TIMEOUT_S = 60.0
#: A helper that dies again this soon after its restart waits before the next one, longer each
#: time (up to _MAX_PAUSE_S): a front end that cannot start does not spin.
_FLAPPING_S = 2.0
_MAX_PAUSE_S = 5.0


class FrontendStartError(RuntimeError):
    """A helper front end did not come up."""


class FrontendFleet:
    """Helper front ends in slots 1..``count``-1.

    >>> fleet = FrontendFleet(3, launch_line, on_change, on_restart)  # doctest: +SKIP
    >>> await fleet.start()  # doctest: +SKIP
    """

    def __init__(
        self,
        count: int,
        launch_line: Callable[[int], str],
        on_change: Callable[[int, int], None],
        on_restart: Callable[[int], None],
    ) -> None:
        self.helpers = count - 1
        self._launch_line = launch_line
        self._on_change = on_change
        self._on_restart = on_restart
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._up: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        """The helpers' process ids, by slot."""
        return [self._processes[slot].pid for slot in sorted(self._processes)]

    async def start(self) -> None:
        """Start every helper; return once all listen. FrontendStartError when one cannot."""
        slots = range(1, self.helpers + 1)
        self._on_change(0, self.helpers)
        try:
            await asyncio.gather(*(self._spawn(slot) for slot in slots))
        except BaseException:
            await self.stop(0)
            raise
        self._tasks = [asyncio.create_task(self._watch(slot)) for slot in slots]

    async def _spawn(self, slot: int) -> None:
        old = self._processes.get(slot)
        if old is not None and old.stdin is not None:
            old.stdin.close()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", MODULE, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._processes[slot] = process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(self._launch_line(slot).encode() + b"\n")
        await process.stdin.drain()
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if line.strip() != READY:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            code = await process.wait()
            raise FrontendStartError(f"front end {slot} did not start (exit status {code})")
        self._up.add(slot)
        self._on_change(len(self._up), self.helpers)
        logger.info("front end %d up (pid %d)", slot, process.pid)

    async def _watch(self, slot: int) -> None:
        """Restart the helper in ``slot`` whenever it exits, until the fleet stops."""
        quick_deaths = 0
        while not self._stopping:
            started = time.monotonic()
            code = await self._processes[slot].wait()
            self._up.discard(slot)
            self._on_change(len(self._up), self.helpers)
            if self._stopping:
                return
            logger.warning("front end %d exited (status %s): restarting it", slot, code)
            self._on_restart(slot)
            quick_deaths = quick_deaths + 1 if time.monotonic() - started < _FLAPPING_S else 0
            if quick_deaths > 1:
                await asyncio.sleep(min(_MAX_PAUSE_S, 0.25 * 2**quick_deaths))
            try:
                await self._spawn(slot)
            except (FrontendStartError, OSError) as exc:
                logger.error("front end %d: %s; trying again", slot, exc)

    async def stop(self, grace: float) -> None:
        """SIGTERM every helper (they drain for up to ``grace`` seconds), then SIGKILL."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        running = [p for p in self._processes.values() if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        waits = [asyncio.create_task(p.wait()) for p in running]
        if waits:
            _, late = await asyncio.wait(waits, timeout=grace + 5)
            for process in running:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*late, return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for process in self._processes.values():
            if process.stdin is not None:
                process.stdin.close()
        self._up.clear()
