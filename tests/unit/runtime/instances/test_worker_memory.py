"""runtime/instances/worker_memory.py: a worker's memory is reported, and over its limit its
whole process group is stopped, once."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.instances.proctree import MemorySampler, MiB
from runtime.instances.worker_memory import MemoryGuard

pytestmark = pytest.mark.timeout(20)


class FixedSampler(MemorySampler):
    """Reports ``used`` bytes for any group, without reading /proc."""

    def __init__(self, used: int) -> None:
        super().__init__(0.5)
        self.used = used

    def group_bytes(self, group: int) -> int:
        return self.used


class Observer:
    def __init__(self) -> None:
        self.memory: list[tuple[str, int, int | None]] = []
        self.exceeded: list[str] = []

    def observe_instance_memory(self, model: str, instance: int, used: int | None) -> None:
        self.memory.append((model, instance, used))

    def count_memory_limit_exceeded(self, model: str) -> None:
        self.exceeded.append(model)


class GroupLeader:
    """A ``sleep`` leading a process group of its own, shaped like a multiprocessing Process."""

    def __init__(self) -> None:
        self.popen = subprocess.Popen(["sleep", "60"], start_new_session=True)
        self.pid = self.popen.pid

    def is_alive(self) -> bool:
        return self.popen.poll() is None


@pytest.fixture
def leader() -> Iterator[GroupLeader]:
    process = GroupLeader()
    yield process
    if process.is_alive():
        process.popen.kill()
    process.popen.wait(5)


def iris(
    instance: int, limit_mb: int, sampler: MemorySampler, observer: Observer | None
) -> MemoryGuard:
    return MemoryGuard(
        "iris", instance, f"model 'iris' instance {instance}", limit_mb, sampler, observer
    )


def sample_once(guard: MemoryGuard, process: Any, watched: bool = True) -> None:
    """Ask for one sample and run the loop until its answer was handled (or 2s passed)."""
    asked: list[Any] = []

    def is_watched(sampled: Any) -> bool:
        asked.append(sampled)
        return watched

    async def main() -> None:
        guard.sample(asyncio.get_running_loop(), process, is_watched)
        for _ in range(200):  # the answer comes back through the loop
            await asyncio.sleep(0.01)
            if asked:
                return

    asyncio.run(main())


def test_memory_under_the_limit_is_reported_and_the_worker_left_alone(
    leader: GroupLeader,
) -> None:
    observer = Observer()
    guard = iris(1, 100, FixedSampler(50 * MiB), observer)
    sample_once(guard, leader)
    assert observer.memory == [("iris", 1, 50 * MiB)]
    assert observer.exceeded == []
    assert guard.take_reason() == ""
    assert leader.is_alive()


def test_memory_over_the_limit_stops_the_group_and_says_why_once(leader: GroupLeader) -> None:
    observer = Observer()
    guard = iris(0, 100, FixedSampler(300 * MiB), observer)
    sample_once(guard, leader)
    assert leader.popen.wait(5) == -9
    assert observer.exceeded == ["iris"]
    assert guard.take_reason() == (
        "model 'iris' instance 0 exceeded its memory limit of 100 MiB (300 MiB resident) "
        "and was stopped"
    )
    assert guard.take_reason() == ""


def test_a_sample_of_a_worker_no_longer_watched_is_dropped(leader: GroupLeader) -> None:
    observer = Observer()
    guard = iris(0, 100, FixedSampler(300 * MiB), observer)
    sample_once(guard, leader, watched=False)
    assert observer.memory == []
    assert observer.exceeded == []
    assert leader.is_alive()


def test_without_a_limit_or_an_observer_nothing_is_sampled(leader: GroupLeader) -> None:
    class Refusing(MemorySampler):
        def group_bytes(self, group: int) -> int:
            raise AssertionError("sampled although nobody asks")

    guard = iris(0, 0, Refusing(0.5), None)
    sample_once(guard, leader)
    assert leader.is_alive()


def test_forget_drops_the_instances_series() -> None:
    observer = Observer()
    iris(2, 0, FixedSampler(0), observer).forget()
    assert observer.memory == [("iris", 2, None)]
