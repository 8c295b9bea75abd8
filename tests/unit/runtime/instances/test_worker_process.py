"""runtime/instances/worker_process.py: the restart budget, and the error of a down worker."""

from __future__ import annotations

from registry.errors import ErrorCode
from runtime.instances.worker_process import CrashHistory, WorkerSettings, instance_down


def test_backoff_doubles_per_crash_up_to_its_cap() -> None:
    history = CrashHistory(WorkerSettings(max_restarts=10, backoff_s=0.5, max_backoff_s=3.0))
    delays = []
    for second in range(5):
        history.record(float(second))
        delays.append(history.backoff_s())
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_gives_up_after_more_crashes_than_allowed_within_the_window() -> None:
    history = CrashHistory(WorkerSettings(max_restarts=2, restart_window_s=60.0))
    assert history.record(0.0) == 1
    assert not history.gave_up()
    assert history.record(10.0) == 2
    assert not history.gave_up()
    assert history.record(20.0) == 3
    assert history.gave_up()


def test_crashes_older_than_the_window_are_forgotten() -> None:
    history = CrashHistory(WorkerSettings(max_restarts=1, restart_window_s=60.0, backoff_s=1.0))
    history.record(0.0)
    assert history.record(61.0) == 1
    assert not history.gave_up()
    assert history.backoff_s() == 1.0  # the backoff starts over too


def test_a_down_instance_is_unavailable_naming_its_model() -> None:
    error = instance_down("model 'iris' instance 0 crashed", "iris")
    assert error.code == ErrorCode.UNAVAILABLE
    assert error.reason == "INSTANCE_DOWN"
    assert error.metadata == {"model": "iris"}
    assert str(error.message) == "model 'iris' instance 0 crashed"
