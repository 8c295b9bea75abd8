"""Who is staging an upload, and whether a staged upload has been abandoned.

A staged folder under the store's ``.staging/`` is named after the process building it
(``<host>_<pid>_<start>_<random>``), so several replicas can share one store: ``recover()`` sweeps
only the folders whose process is gone, or, for another host's (whose processes cannot be
asked), the ones left untouched for long.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

__all__ = ["STALE_STAGING_S", "is_abandoned", "staging_owner"]

# A staged upload from another host cannot be asked whether its process lives; one untouched this
# long is taken as abandoned (an upload writes as its bytes come; checking takes minutes at most).
STALE_STAGING_S = 6 * 3600.0


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def _start_ticks(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot), so a reused pid is told apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[-1].split()[19]


def staging_owner() -> str:
    """``<host>_<pid>_<start>``: the process that stages an upload, as its folder names it.

    >>> staging_owner()  # doctest: +SKIP
    'web-1_4242_1837265'
    """
    pid = os.getpid()
    return f"{_host()}_{pid}_{_start_ticks(pid)}"


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return start == "0" or _start_ticks(pid) == start


def is_abandoned(staged: Path, stale_after_s: float) -> bool:
    """Whether no live process is building ``staged`` (a folder named by ``staging_owner``).

    One from this host is abandoned when its process has ended (a reused pid is told apart by
    its start time); one from another host, or named by an older release, when nothing in it
    changed for ``stale_after_s``.

    >>> is_abandoned(Path(f".staging/{staging_owner()}_0a1b"), STALE_STAGING_S)  # doctest: +SKIP
    False
    """
    parts = staged.name.rsplit("_", 3)
    if len(parts) == 4 and parts[0] == _host() and parts[1].isdigit():
        return not _alive(int(parts[1]), parts[2])
    try:  # another host's, or named by an older release: judged by its last change
        touched = max(p.stat().st_mtime for p in (staged, *staged.iterdir()))
    except OSError:
        return False
    return time.time() - touched > stale_after_s
