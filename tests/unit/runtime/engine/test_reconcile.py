"""Tests for runtime.engine.reconcile: what a replica adds, drops, loads and unloads."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runtime.engine.models import ModelRecord, ModelState
from runtime.engine.reconcile import StoreSync, SyncPlan, plan_sync
from runtime.store.store import Manifest, StoredVersion

pytestmark = pytest.mark.timeout(30)
ROOT = Path("/store")


def _stored(name: str, version: str, *, loaded: bool = True, sha: str = "aa") -> StoredVersion:
    home = ROOT / name / version
    manifest = Manifest(name, version, sha256=sha, size=1, format="native", created="t")
    return StoredVersion(home / "bundle", home, manifest, loaded)


def _served(entry: StoredVersion, state: ModelState = ModelState.READY) -> ModelRecord:
    assert entry.manifest is not None
    name, version = entry.manifest.namespace, entry.manifest.version
    return ModelRecord(name, version, entry.source, state=state, entry=entry)


def _seed(name: str) -> StoredVersion:
    return StoredVersion(ROOT / name, ROOT / name)


def test_a_committed_version_not_served_yet_is_added() -> None:
    served = _stored("a", "1")
    new = _stored("a", "2", loaded=False)

    plan = plan_sync([_served(served)], [served, new])

    assert plan == SyncPlan(add=(new,))


def test_a_served_version_gone_from_the_store_is_dropped() -> None:
    record = _served(_stored("a", "1"))

    assert plan_sync([record], []) == SyncPlan(drop=(record,))


def test_a_version_recommitted_under_the_same_number_is_dropped_and_added() -> None:
    record = _served(_stored("a", "1", sha="old"))
    again = _stored("a", "1", sha="new")

    assert plan_sync([record], [again]) == SyncPlan(add=(again,), drop=(record,))


def test_state_flipped_in_the_store_is_loaded_or_unloaded_here() -> None:
    resting = _served(_stored("a", "1"), ModelState.UNLOADED)
    busy = _served(_stored("b", "1", loaded=False))
    failed = _served(_stored("c", "1", loaded=False), ModelState.FAILED)
    stored = [_stored("a", "1"), _stored("b", "1", loaded=False), _stored("c", "1", loaded=False)]

    plan = plan_sync([resting, busy, failed], stored)

    assert plan == SyncPlan(load=(resting,), unload=(busy, failed))


def test_matching_state_and_failed_loads_are_left_alone() -> None:
    ready = _served(_stored("a", "1"))
    failed = _served(_stored("b", "1"), ModelState.FAILED)  # not retried on every round
    loading = _served(_stored("c", "1"), ModelState.LOADING)
    resting = _served(_stored("d", "1", loaded=False), ModelState.UNLOADED)
    records = [ready, failed, loading, resting]

    assert plan_sync(records, [r.entry for r in records if r.entry]).empty


def test_seed_bundles_are_never_added_or_dropped() -> None:
    seed = _seed("by-hand")
    gone = ModelRecord("old-seed", "1", ROOT / "old-seed", entry=_seed("old-seed"))

    assert plan_sync([gone], [seed]).empty


def test_store_sync_calls_sync_every_interval_until_stopped() -> None:
    calls: list[int] = []

    async def sync() -> SyncPlan:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("store unreachable")  # logged; the loop goes on
        return SyncPlan()

    async def scenario() -> None:
        syncer = StoreSync(sync, 0.01)
        syncer.start()
        for _ in range(500):
            if len(calls) >= 4:
                break
            await asyncio.sleep(0.01)
        await syncer.stop()

    asyncio.run(scenario())
    assert len(calls) >= 4


def test_store_sync_with_interval_zero_never_runs() -> None:
    async def sync() -> SyncPlan:
        raise AssertionError("must not run")

    async def scenario() -> None:
        syncer = StoreSync(sync, 0)
        syncer.start()
        await asyncio.sleep(0.05)
        await syncer.stop()

    asyncio.run(scenario())
