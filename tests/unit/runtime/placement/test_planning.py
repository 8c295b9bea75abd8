"""InstancePlanner: placement of a bundle's instances, and GPU memory held until they load."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loader.bundle import prepare_bundle
from loader.unpack import UnpackLimits
from runtime.placement.devices import GpuInfo, StaticInventory
from runtime.placement.planning import InstancePlanner
from tests.bundle_factory import write_bundle

MODEL = """
    from registry import ModelRunner, register

    @register("{name}")
    class Model(ModelRunner):
        def predict(self, request):
            return {{}}
"""

GPUS = [GpuInfo(0, "GPU", 24000, 20000, 4000), GpuInfo(1, "GPU", 24000, 20000, 4000)]


def _prepared(tmp_path: Path, name: str, instances: list[dict]):
    folder = write_bundle(tmp_path, name, MODEL.format(name=name), config={"instances": instances})
    return prepare_bundle(folder, tmp_path / "unpacked", UnpackLimits())


def test_plan_places_each_instance_with_its_device_and_environment(tmp_path: Path) -> None:
    planner = InstancePlanner(inventory=StaticInventory(GPUS))
    prepared = _prepared(tmp_path, "two", [{"count": 2, "kind": "gpu", "gpu_memory_mb": 1000}])
    specs, notes = asyncio.run(planner.plan(prepared))
    assert notes == []
    assert [spec.device for spec in specs] == ["cuda:0", "cuda:0"]
    assert sorted(spec.env["CUDA_VISIBLE_DEVICES"] for spec in specs) == ["0", "1"]
    assert [spec.index for spec in specs] == [0, 1]


def test_memory_is_held_while_loading_then_left_to_the_gpu_once_loaded(tmp_path: Path) -> None:
    planner = InstancePlanner(inventory=StaticInventory(GPUS[:1]))
    first = _prepared(tmp_path, "first", [{"kind": "gpu", "gpu_memory_mb": 15000}])
    asyncio.run(planner.plan(first))
    assert planner.ledger.reserved_mb(0) == 15000
    planner.settle(first)  # loaded: the GPU's free memory now shows what it uses
    assert planner.ledger.reserved_mb(0) == 0
    planner.release(first)
    assert planner.ledger.instances_on(0) == 0
