"""runtime/instances/proctree.py: reading /proc, ending a process group, refusing our own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from runtime.instances.proctree import (
    MemorySampler,
    ProcessInfo,
    end_group,
    group_rss,
    live_members,
    read_stat,
    signal_group,
)

# A child in a group of its own that ignores SIGTERM, with a grandchild in the same group.
STUBBORN = (
    "import signal, subprocess, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen(['sleep', '60'])\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_read_stat_reads_this_process() -> None:
    info = read_stat(os.getpid(), os.sysconf("SC_PAGE_SIZE"))
    assert info is not None
    assert info.group == os.getpgrp()
    assert not info.zombie
    assert info.rss_bytes > 1024 * 1024


def test_read_stat_of_a_missing_process_is_none() -> None:
    assert read_stat(2**22 + 12345, 4096) is None  # above any pid_max


def test_group_rss_sums_live_members_of_the_group_only() -> None:
    processes = [
        ProcessInfo(10, 10, False, 100),
        ProcessInfo(11, 10, False, 50),
        ProcessInfo(12, 10, True, 999),  # exited
        ProcessInfo(13, 20, False, 7),  # another group
    ]
    assert group_rss(processes, 10) == 150
    assert group_rss(processes, 30) == 0


def test_the_callers_own_group_and_init_are_never_signalled() -> None:
    assert signal_group(os.getpgrp(), 0) is False
    assert signal_group(1, 0) is False
    assert signal_group(0, 0) is False


def test_end_group_kills_what_ignores_sigterm_after_the_grace_period() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        members = live_members(child.pid)
        assert child.pid in members
        assert len(members) == 2
        started = time.monotonic()
        killed = end_group(child.pid, grace_s=0.5)
        assert time.monotonic() - started >= 0.5
        assert child.pid in killed
        child.wait(10)
        assert child.returncode == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while live_members(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live_members(child.pid) == []
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)


def test_the_sampler_scans_once_per_max_age() -> None:
    sampler = MemorySampler(max_age_s=60)
    first = sampler.group_bytes(os.getpgrp())
    hog = bytearray(b"x" * (64 * 1024 * 1024))
    assert sampler.group_bytes(os.getpgrp()) == first  # the cached scan
    assert MemorySampler(0).group_bytes(os.getpgrp()) >= first + 32 * 1024 * 1024
    del hog
