"""Tests for runtime.engine: the engine over a real store folder, with a fake executor factory.

Bundles are real folders (tests/bundle_factory.py); the executors are fakes that never run model
code, so no worker process and no server start: what is under test is the engine's state
machine (LOADING, READY, FAILED with a reason, UNLOADED), its races and its instance events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from loader.unpack import UnpackLimits
from registry.errors import ErrorCode, ModelrtError
from runtime.engine.catalog import Catalog
from runtime.engine.engine import Engine
from runtime.engine.lifecycle import Lifecycle
from runtime.engine.models import ModelRecord, ModelState
from runtime.engine.table import ModelTable
from runtime.instances.executor import (
    Executor,
    InstanceEvent,
    InstanceSpec,
    Item,
    LoadedModel,
    OnResult,
)
from runtime.instances.payload import Answer, StreamInput, WireRequest
from runtime.placement.devices import StaticInventory
from runtime.placement.planning import InstancePlanner
from runtime.store.mirror import StoreMirror
from runtime.store.store import ModelStore
from tests.bundle_factory import write_bundle

pytestmark = pytest.mark.timeout(30)

MODEL = """
    from registry import ModelRunner, register

    @register("{name}")
    class Model(ModelRunner):
        def predict(self, request):
            return {{"ok": True}}
"""


class FakeExecutor(Executor):
    """An instance that starts as its factory says and answers each request with its id."""

    def __init__(self, factory: FakeFactory, spec: InstanceSpec) -> None:
        self.factory = factory
        self.spec = spec
        self.stopped = False
        self.listener: Callable[[InstanceEvent], None] | None = None

    def watch(self, listener: Callable[[InstanceEvent], None]) -> None:
        self.listener = listener

    async def start(self) -> LoadedModel:
        self.factory.starting.set()
        if self.factory.gate is not None:
            await self.factory.gate.wait()
        failure = self.factory.failures.get(self.spec.name)
        if failure is not None:
            raise failure
        return LoadedModel(("predict",))

    async def predict_batch(self, requests: list[WireRequest]) -> list[Answer]:
        return [rid.encode() for _, rid in requests]

    async def predict_each(self, requests: list[WireRequest], on_result: OnResult) -> None:
        for index, (_, rid) in enumerate(requests):
            on_result(index, rid.encode())

    def generate(self, request: WireRequest) -> AsyncGenerator[Item, None]:
        raise NotImplementedError

    def stream(self, requests: AsyncIterator[StreamInput]) -> AsyncGenerator[Item, None]:
        raise NotImplementedError

    async def stop(self) -> None:
        self.stopped = True


class FakeFactory:
    """Builds FakeExecutors; ``failures`` by model name, ``gate`` holds every start."""

    def __init__(self) -> None:
        self.failures: dict[str, BaseException] = {}
        self.gate: asyncio.Event | None = None
        self.starting = asyncio.Event()
        self.made: list[FakeExecutor] = []

    def __call__(self, spec: InstanceSpec) -> Executor:
        executor = FakeExecutor(self, spec)
        self.made.append(executor)
        return executor


class CountingObserver:
    """Counts restarts (the rest of the scheduler's measurements are ignored)."""

    def __init__(self) -> None:
        self.restarts: list[str] = []

    def observe_queue(self, model: str, seconds: float) -> None:
        """Not looked at here."""

    def observe_batch(self, model: str, size: int) -> None:
        """Not looked at here."""

    def count_restart(self, model: str) -> None:
        self.restarts.append(model)

    def count_expired(self, model: str) -> None:
        """Not looked at here."""

    def count_batch_reason(self, model: str, reason: str) -> None:
        """Not looked at here."""


def _store(tmp_path: Path, *names: str, config: dict[str, Any] | None = None) -> Path:
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    for name in names:
        write_bundle(store, name, MODEL.format(name=name), config=config)
    return store


def _engine(
    tmp_path: Path, store: Path, factory: FakeFactory, observer: CountingObserver | None = None
) -> tuple[Engine, list[tuple[str, ModelState, str]]]:
    """An engine over ``store``, and the (name, state, reason) of every change it reports."""
    table, limits = ModelTable(), UnpackLimits()
    planner = InstancePlanner(inventory=StaticInventory([]))
    lifecycle = Lifecycle(table, factory, planner, observer=observer)
    folder = ModelStore(store)
    mirror = StoreMirror(folder, None, limits)
    catalog = Catalog(table, lifecycle, folder, mirror, tmp_path / "unpack", limits)
    engine = Engine(table, catalog, lifecycle)
    seen: list[tuple[str, ModelState, str]] = []
    engine.add_listener(lambda r: seen.append((r.name, r.state, r.reason)))
    return engine, seen


def _run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 20))


def test_start_loads_every_bundle_of_the_store_to_ready(tmp_path: Path) -> None:
    store = _store(tmp_path, "alpha", "beta")

    async def main() -> list[tuple[str, ModelState, str]]:
        engine, seen = _engine(tmp_path, store, FakeFactory())
        await engine.start()
        assert [(r.name, r.state) for r in engine.records()] == [
            ("alpha", ModelState.READY),
            ("beta", ModelState.READY),
        ]
        record = engine.resolve("alpha", "", "predict")
        assert await engine.predict(record, (b"", "id-1")) == b"id-1"
        return seen

    seen = _run(main)
    assert [(name, state) for name, state, _ in seen if name == "alpha"] == [
        ("alpha", ModelState.LOADING),
        ("alpha", ModelState.READY),
    ]


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (ModelrtError("the weights do not fit"), "the weights do not fit"),
        (RuntimeError("boom\n  at line 3"), "loading failed: RuntimeError: boom at line 3"),
    ],
)
def test_a_start_that_raises_leaves_the_model_failed_with_the_reason(
    tmp_path: Path, failure: BaseException, reason: str
) -> None:
    store = _store(tmp_path, "alpha", "beta")

    async def main() -> tuple[Engine, FakeFactory]:
        factory = FakeFactory()
        factory.failures["alpha"] = failure
        engine, _ = _engine(tmp_path, store, factory)
        await engine.start()
        return engine, factory

    engine, factory = _run(main)
    alpha, beta = engine.records()
    assert (alpha.state, alpha.reason) == (ModelState.FAILED, reason)
    assert alpha.scheduler is None
    assert beta.state is ModelState.READY  # one model failing leaves the others alone
    assert all(ex.stopped for ex in factory.made if ex.spec.name == "alpha")
    with pytest.raises(ModelrtError) as refused:
        engine.resolve("alpha", "", "predict")
    assert (refused.value.code, refused.value.reason) == (ErrorCode.UNAVAILABLE, "MODEL_NOT_READY")
    assert reason in refused.value.message


def test_a_bundle_that_cannot_be_read_fails_with_what_reading_it_said(tmp_path: Path) -> None:
    store = _store(tmp_path, "broken", config={"batching": {"max_batch_sise": 4}})

    async def main() -> tuple[Engine, FakeFactory]:
        factory = FakeFactory()
        engine, _ = _engine(tmp_path, store, factory)
        await engine.start()
        return engine, factory

    engine, factory = _run(main)
    (record,) = engine.records()
    assert record.state is ModelState.FAILED
    assert "max_batch_sise" in record.reason
    assert factory.made == []  # no instance was started for it


def test_instances_that_do_not_fit_the_gpus_fail_the_model_before_any_starts(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path, "alpha", config={"instances": [{"count": 1, "kind": "gpu"}]})

    async def main() -> tuple[Engine, FakeFactory]:
        factory = FakeFactory()
        engine, _ = _engine(tmp_path, store, factory)  # a server without GPUs
        await engine.start()
        return engine, factory

    engine, factory = _run(main)
    (record,) = engine.records()
    assert record.state is ModelState.FAILED
    assert record.reason.endswith("asks for 1 instance on a GPU; this server has no GPU")
    assert factory.made == []


def test_unload_stops_the_instances_and_refuses_calls(tmp_path: Path) -> None:
    store = _store(tmp_path, "alpha")

    async def main() -> tuple[Engine, FakeFactory]:
        factory = FakeFactory()
        engine, _ = _engine(tmp_path, store, factory)
        await engine.start()
        (record,) = await engine.unload("alpha")
        assert record.state is ModelState.UNLOADED
        with pytest.raises(ModelrtError, match="UNLOADED"):
            engine.resolve("alpha", "", "predict")
        await engine.load("alpha")  # and back
        assert record.state is ModelState.READY
        return engine, factory

    _, factory = _run(main)
    assert [ex.stopped for ex in factory.made] == [True, False]


def test_an_unload_during_a_load_wins_once_the_load_ends(tmp_path: Path) -> None:
    store = _store(tmp_path, "alpha")

    async def main() -> tuple[ModelRecord, FakeFactory]:
        factory = FakeFactory()
        factory.gate = asyncio.Event()
        engine, _ = _engine(tmp_path, store, factory)
        starting = asyncio.create_task(engine.start())
        await factory.starting.wait()  # the instance is starting: the model is LOADING
        (record,) = engine.records()
        assert record.state is ModelState.LOADING
        unloading = asyncio.create_task(engine.unload("alpha"))
        await asyncio.sleep(0)
        factory.gate.set()
        await asyncio.gather(starting, unloading)
        return record, factory

    record, factory = _run(main)
    assert record.state is ModelState.UNLOADED
    assert record.scheduler is None
    assert all(ex.stopped for ex in factory.made)


def test_a_delete_during_a_load_forgets_the_model_and_removes_its_bundle(tmp_path: Path) -> None:
    store = _store(tmp_path, "alpha")

    async def main() -> tuple[Engine, FakeFactory, list[str], list[str]]:
        factory = FakeFactory()
        factory.gate = asyncio.Event()
        engine, _ = _engine(tmp_path, store, factory)
        forgotten: list[str] = []
        engine.on_forget(forgotten.append)
        starting = asyncio.create_task(engine.start())
        await factory.starting.wait()
        deleting = asyncio.create_task(engine.delete("alpha"))
        await asyncio.sleep(0)
        factory.gate.set()
        _, versions = await asyncio.gather(starting, deleting)
        return engine, factory, versions, forgotten

    engine, factory, versions, forgotten = _run(main)
    assert versions == ["1"]
    assert forgotten == ["alpha"]
    assert engine.records() == []
    assert not (store / "alpha").exists()
    assert all(ex.stopped for ex in factory.made)
    with pytest.raises(ModelrtError) as missing:
        engine.get("alpha")
    assert missing.value.reason == "MODEL_NOT_FOUND"


def test_instance_events_drive_scheduling_restarts_and_the_failed_state(tmp_path: Path) -> None:
    store = _store(tmp_path, "alpha")

    async def main() -> None:
        factory, observer = FakeFactory(), CountingObserver()
        engine, seen = _engine(tmp_path, store, factory, observer)
        await engine.start()
        (record,) = engine.records()
        (executor,) = factory.made
        assert executor.listener is not None
        executor.listener(InstanceEvent("down", "worker exited with code 1"))
        assert (record.state, record.instances_up, record.serving) == (ModelState.READY, 0, False)
        with pytest.raises(ModelrtError, match="no instance up"):
            engine.predict(record, (b"", "id-1"))
        executor.listener(InstanceEvent("up"))
        assert (record.instances_up, observer.restarts) == (1, ["alpha"])
        executor.listener(InstanceEvent("failed", "crashed 3 times in 60s"))
        assert (record.state, record.reason) == (ModelState.FAILED, "crashed 3 times in 60s")
        for _ in range(10):  # the instances stop in a task of their own
            await asyncio.sleep(0)
        assert executor.stopped
        assert record.scheduler is None
        assert seen[-1] == ("alpha", ModelState.FAILED, "crashed 3 times in 60s")

    _run(main)


@pytest.mark.parametrize("call", ["load", "unload", "delete"])
def test_an_empty_name_is_refused_and_touches_no_model(tmp_path: Path, call: str) -> None:
    store = _store(tmp_path, "alpha")

    async def main() -> Engine:
        engine, _ = _engine(tmp_path, store, FakeFactory())
        await engine.start()
        with pytest.raises(ModelrtError) as refused:
            await getattr(engine, call)("")
        assert (refused.value.code, refused.value.reason) == (
            ErrorCode.INVALID_ARGUMENT,
            "INVALID_MODEL_NAME",
        )
        return engine

    engine = _run(main)
    assert [(r.name, r.state) for r in engine.records()] == [("alpha", ModelState.READY)]
    assert (store / "alpha").is_dir()
