"""A worker's process group: making it, ending it, and measuring its memory, from /proc.

Each worker leads a process group (and session) of its own, so whatever model code starts
(subprocesses, multiprocessing children, double-forked helpers that stay in the group) can be
ended with the worker and counted against its memory limit. A group is only ever signalled by
its leader's pid, and never when that is the caller's own group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)
MiB = 1024 * 1024
_PROC = Path("/proc")
_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process as /proc/<pid>/stat shows it."""

    pid: int
    group: int
    zombie: bool
    rss_bytes: int


def lead_own_group() -> None:
    """Make the calling process the leader of a new process group, in the caller's session.

    A worker calls this first thing, so the server's group (and a terminal's) is never its own.
    Not a new session (``setsid``): with Linux's scheduler autogroups, on by default, each
    session is scheduled as a unit of its own, and a worker in a session apart from its server
    made every Predict cost the server and the worker about a quarter more CPU in wake-ups
    (benchmarks/results-percall.md).
    """
    with contextlib.suppress(OSError):  # already a group leader: that group is its own
        os.setpgid(0, 0)


def read_stat(pid: int, page_size: int) -> ProcessInfo | None:
    """``pid``'s group, state and resident memory; None when it is gone or unreadable.

    >>> read_stat(os.getpid(), os.sysconf("SC_PAGE_SIZE")).pid == os.getpid()
    True
    """
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: the fields follow the last ")".
    fields = raw[raw.rfind(b")") + 2 :].split()
    try:
        state, group, rss_pages = fields[0], int(fields[2]), int(fields[21])
    except (IndexError, ValueError):
        return None
    return ProcessInfo(pid, group, state in (b"Z", b"X"), rss_pages * page_size)


def scan() -> Iterator[ProcessInfo]:
    """Every process /proc shows (nothing where there is no /proc)."""
    page_size = os.sysconf("SC_PAGE_SIZE")
    try:
        names = os.listdir(_PROC)
    except OSError:
        return
    for name in names:
        if name.isdigit() and (info := read_stat(int(name), page_size)) is not None:
            yield info


def live_members(group: int) -> list[int]:
    """Pids of the processes of ``group`` that have not exited (zombies do not count)."""
    return [p.pid for p in scan() if p.group == group and not p.zombie]


def group_rss(processes: list[ProcessInfo], group: int) -> int:
    """Resident bytes of ``group``'s live processes, summed (a page shared by two counts twice).

    >>> group_rss([ProcessInfo(5, 5, False, 100), ProcessInfo(6, 5, False, 20)], 5)
    120
    """
    return sum(p.rss_bytes for p in processes if p.group == group and not p.zombie)


def signal_group(group: int, signum: int) -> bool:
    """Send ``signum`` to every process of ``group``; False when none is left.

    Refuses the caller's own group and the pids 0 and 1, so the server can never signal itself.
    """
    if group <= 1 or group == os.getpgrp():
        logger.error("refusing to signal process group %d: not a worker's own group", group)
        return False
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        logger.warning("cannot signal process group %d: permission denied", group)
        return False
    return True


def end_group(group: int, grace_s: float) -> list[int]:
    """SIGTERM every process of ``group``, then SIGKILL what is left after ``grace_s``.

    Returns the pids that needed SIGKILL. Blocks up to ``grace_s``: call it off the event loop.
    """
    if not live_members(group) or not signal_group(group, signal.SIGTERM):
        return []
    deadline = time.monotonic() + grace_s
    while (left := live_members(group)) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    if left:
        logger.warning(
            "process group %d: %d process(es) ignored SIGTERM for %gs; killing them (pids %s)",
            group,
            len(left),
            grace_s,
            ", ".join(map(str, left[:10])),
        )
        signal_group(group, signal.SIGKILL)
    return left


class MemorySampler:
    """Resident memory of process groups, from one /proc scan shared by every caller.

    A scan at most every ``max_age_s`` however many instances ask: one scan reads every
    process's stat file, so instances share it rather than each paying for it.

    >>> MemorySampler(1.0).group_bytes(os.getpgrp()) > 0
    True
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._taken = -float("inf")
        self._processes: list[ProcessInfo] = []

    def group_bytes(self, group: int) -> int:
        """Resident bytes of ``group`` (0 when it has no live process), at most max_age_s old."""
        with self._lock:
            now = time.monotonic()
            if now - self._taken >= self.max_age_s:
                self._processes = list(scan())
                self._taken = now
            processes = self._processes
        return group_rss(processes, group)
