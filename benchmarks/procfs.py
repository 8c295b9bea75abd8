"""Reads /proc (Linux): a process's descendants, their memory (VmRSS, Pss) and CPU time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessMemory:
    """One process: its pid, a short label, and its resident / proportional memory in KiB."""

    pid: int
    label: str
    rss_kib: int
    pss_kib: int


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces): field 3 onwards."""
    text = (PROC / str(pid) / "stat").read_text()
    return text.rpartition(")")[2].split()


def parent_of(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def start_time(pid: int) -> int:
    """Clock ticks after boot when ``pid`` started: with the pid, names one process for good."""
    return int(_stat_fields(pid)[19])


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from task/*/children, else by scanning every ppid)."""
    found: list[int] = []
    try:
        for task in (PROC / str(pid) / "task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except FileNotFoundError:
        for entry in PROC.iterdir():
            if entry.name.isdigit():
                try:
                    if parent_of(int(entry.name)) == pid:
                        found.append(int(entry.name))
                except (FileNotFoundError, ProcessLookupError):
                    continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, breadth first; processes that exit meanwhile are skipped."""
    found: list[int] = []
    frontier = [pid]
    while frontier:
        try:
            below = children(frontier.pop())
        except (FileNotFoundError, ProcessLookupError):
            continue
        found += below
        frontier += below
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used; 0 when it is gone."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _kib(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def label(pid: int) -> str:
    """A short description: the program and, for Python, what it runs."""
    words = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    text = " ".join(word.decode(errors="replace") for word in words if word)
    if "multiprocessing.spawn" in text:
        return "worker (spawn_main)"
    if "resource_tracker" in text:
        return "multiprocessing resource tracker"
    if " serve " in text and "modelrt" in text:
        return "modelrt serve"
    return text if len(text) <= 60 else text[:57] + "..."


def memory(pid: int) -> ProcessMemory:
    """VmRSS (pages resident) and Pss (shared pages split among sharers) of one process."""
    base = PROC / str(pid)
    rollup = base / "smaps_rollup"
    pss = _kib(rollup, "Pss:") if rollup.exists() else 0
    return ProcessMemory(pid, label(pid), _kib(base / "status", "VmRSS:"), pss)


def tree_memory(pid: int) -> list[ProcessMemory]:
    """Memory of ``pid`` and every process below it, ``pid`` first."""
    found = []
    for member in [pid, *descendants(pid)]:
        try:
            found.append(memory(member))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and of every process below it."""
    return {member: cpu_seconds(member) for member in [pid, *descendants(pid)]}
