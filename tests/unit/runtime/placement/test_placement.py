"""Tests for runtime.placement.placement: instance groups onto the CPU or GPUs, the ledger."""

from __future__ import annotations

import pickle

import pytest

from loader.config import BundleConfig, InstanceGroup, parse_config
from registry.errors import ErrorCode
from runtime.placement.devices import GpuInfo, StaticInventory
from runtime.placement.placement import GpuLedger, Placement, PlacementError, place

pytestmark = pytest.mark.timeout(10)


def gpu(index: int, free_mb: int, total_mb: int = 16000) -> GpuInfo:
    return GpuInfo(index, f"Fake GPU {index}", total_mb, free_mb, total_mb - free_mb)


TWO_GPUS = StaticInventory([gpu(0, 10000), gpu(1, 10000)])


@pytest.fixture
def ledger() -> GpuLedger:
    return GpuLedger()


def test_default_config_places_one_cpu_instance_without_gpus(ledger: GpuLedger) -> None:
    groups = BundleConfig(name="echo").instances

    placements = place("echo", groups, StaticInventory([]).gpus(), ledger, "echo:1")

    assert placements == [Placement.cpu()]
    assert placements[0].device == "cpu"
    assert placements[0].gpu is None


def test_auto_group_asking_nothing_runs_on_cpu_even_with_gpus(ledger: GpuLedger) -> None:
    placements = place("echo", [InstanceGroup(count=2)], TWO_GPUS.gpus(), ledger, "echo:1")

    assert [p.kind for p in placements] == ["cpu", "cpu"]
    assert ledger.owners() == []


def test_auto_group_asking_memory_runs_on_cpu_when_server_has_no_gpu(ledger: GpuLedger) -> None:
    group = InstanceGroup(gpu_memory_mb=4000)

    assert place("llm", [group], [], ledger, "llm:1") == [Placement.cpu()]


def test_auto_group_asking_memory_goes_to_the_gpu_with_most_free(ledger: GpuLedger) -> None:
    gpus = [gpu(0, 3000), gpu(1, 9000)]

    [placement] = place("llm", [InstanceGroup(gpu_memory_mb=4000)], gpus, ledger, "llm:1")

    assert placement.kind == "gpu"
    assert placement.gpu == 1
    assert placement.device == "cuda:0"
    assert placement.env["CUDA_VISIBLE_DEVICES"] == "1"
    assert placement.env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert ledger.reserved_mb(1) == 4000


def test_cpu_group_hides_every_gpu_from_its_workers(ledger: GpuLedger) -> None:
    [placement] = place("m", [InstanceGroup(kind="cpu")], TWO_GPUS.gpus(), ledger, "m:1")

    assert placement.kind == "cpu"
    assert placement.env == {"CUDA_VISIBLE_DEVICES": ""}


def test_four_instances_spread_two_per_gpu(ledger: GpuLedger) -> None:
    group = InstanceGroup(count=4, kind="gpu")

    placements = place("m", [group], TWO_GPUS.gpus(), ledger, "m:1")

    assert sorted(p.gpu for p in placements if p.gpu is not None) == [0, 0, 1, 1]
    assert (ledger.instances_on(0), ledger.instances_on(1)) == (2, 2)


def test_second_model_goes_to_the_gpu_the_first_left_empty(ledger: GpuLedger) -> None:
    group = InstanceGroup(kind="gpu")

    [first] = place("a", [group], TWO_GPUS.gpus(), ledger, "a:1")
    [second] = place("b", [group], TWO_GPUS.gpus(), ledger, "b:1")

    assert {first.gpu, second.gpu} == {0, 1}


def test_three_models_spread_over_two_gpus_by_instance_count(ledger: GpuLedger) -> None:
    group = InstanceGroup(kind="gpu")
    gpus = [gpu(0, 10000), gpu(1, 12000)]

    chosen = [place(name, [group], gpus, ledger, name)[0].gpu for name in ("a", "b", "c")]

    assert chosen == [1, 0, 1]


def test_second_model_cannot_take_memory_the_first_reserved(ledger: GpuLedger) -> None:
    gpus = [gpu(0, 10000)]
    place("a", [InstanceGroup(gpu_memory_mb=8000)], gpus, ledger, "a:1")

    with pytest.raises(PlacementError) as caught:
        place("b", [InstanceGroup(gpu_memory_mb=4000)], gpus, ledger, "b:1")

    assert "free: GPU 0 2000 MiB (after 8000 MiB reserved)" in caught.value.message


def test_two_instances_may_share_one_gpu(ledger: GpuLedger) -> None:
    group = InstanceGroup(count=2, gpu_memory_mb=4000)

    placements = place("m", [group], [gpu(0, 10000)], ledger, "m:1")

    assert [p.gpu for p in placements] == [0, 0]
    assert ledger.reserved_mb(0) == 8000


def test_explicit_gpus_are_respected(ledger: GpuLedger) -> None:
    group = InstanceGroup(count=2, kind="gpu", gpus=(1,))

    placements = place("m", [group], TWO_GPUS.gpus(), ledger, "m:1")

    assert [p.gpu for p in placements] == [1, 1]
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in placements] == ["1", "1"]


def test_auto_group_naming_gpus_goes_to_a_gpu(ledger: GpuLedger) -> None:
    [placement] = place("m", [InstanceGroup(gpus=(0,))], TWO_GPUS.gpus(), ledger, "m:1")

    assert placement.gpu == 0


def test_naming_a_gpu_the_server_lacks_is_a_placement_error(ledger: GpuLedger) -> None:
    group = InstanceGroup(kind="gpu", gpus=(3,))

    with pytest.raises(PlacementError) as caught:
        place("llm", [group], TWO_GPUS.gpus(), ledger, "llm:1")

    assert caught.value.message == (
        "model 'llm': instance group 1 names GPU 3, which this server does not have "
        "(it has GPU 0, 1)"
    )


def test_gpu_group_on_a_server_without_gpu_is_a_placement_error(ledger: GpuLedger) -> None:
    with pytest.raises(PlacementError) as caught:
        place("llm", [InstanceGroup(kind="gpu")], [], ledger, "llm:1")

    error = caught.value
    assert error.message == (
        "model 'llm': instance group 1 asks for 1 instance on a GPU; this server has no GPU"
    )
    assert error.code is ErrorCode.RESOURCE_EXHAUSTED
    assert error.reason == "PLACEMENT_FAILED"
    assert error.metadata == {"model": "llm", "instance_group": "1"}


def test_memory_not_free_is_a_placement_error_listing_free_memory(ledger: GpuLedger) -> None:
    group = InstanceGroup(count=2, gpu_memory_mb=8000)

    with pytest.raises(PlacementError) as caught:
        place("llm", [group], [gpu(0, 3000), gpu(1, 6000)], ledger, "llm:1")

    assert caught.value.message == (
        "model 'llm': instance group 1 asks for 2 instances on a GPU with 8000 MiB free; "
        "free: GPU 0 3000 MiB, GPU 1 6000 MiB"
    )


def test_error_says_how_many_instances_fit(ledger: GpuLedger) -> None:
    group = InstanceGroup(count=3, gpu_memory_mb=4000)

    with pytest.raises(PlacementError, match="only 2 fit; free: GPU 0 9000 MiB"):
        place("llm", [group], [gpu(0, 9000)], ledger, "llm:1")


def test_failure_in_a_later_group_reserves_nothing(ledger: GpuLedger) -> None:
    groups = [InstanceGroup(kind="gpu", gpu_memory_mb=1000), InstanceGroup(gpu_memory_mb=99999)]

    with pytest.raises(PlacementError, match="instance group 2 asks for"):
        place("llm", groups, TWO_GPUS.gpus(), ledger, "llm:1")

    assert ledger.owners() == []
    assert [ledger.reserved_mb(i) + ledger.instances_on(i) for i in (0, 1)] == [0, 0]


def test_groups_of_one_model_share_the_memory_they_reserve(ledger: GpuLedger) -> None:
    groups = [InstanceGroup(gpu_memory_mb=6000), InstanceGroup(gpu_memory_mb=6000)]

    with pytest.raises(PlacementError, match="instance group 2"):
        place("llm", groups, [gpu(0, 10000)], ledger, "llm:1")


def test_release_frees_what_the_owner_reserved(ledger: GpuLedger) -> None:
    gpus = [gpu(0, 10000)]
    place("a", [InstanceGroup(gpu_memory_mb=8000)], gpus, ledger, "a:1")

    ledger.release("a:1")

    assert ledger.reserved_mb(0) == 0
    assert ledger.instances_on(0) == 0
    assert place("b", [InstanceGroup(gpu_memory_mb=8000)], gpus, ledger, "b:1")[0].gpu == 0


def test_release_of_an_unknown_owner_is_a_no_op(ledger: GpuLedger) -> None:
    ledger.release("nobody:1")

    assert ledger.owners() == []


def test_groups_from_modelrt_yaml_are_placed(ledger: GpuLedger) -> None:
    config = parse_config(
        {"name": "llm", "instances": [{"count": 2, "kind": "gpu", "gpu_memory_mb": 2000}]}
    )

    placements = place(config.name, config.instances, TWO_GPUS.gpus(), ledger, "llm:1")

    assert sorted(p.gpu for p in placements if p.gpu is not None) == [0, 1]


def test_placements_survive_pickling_for_worker_processes() -> None:
    placement = Placement.on_gpu(2)

    assert pickle.loads(pickle.dumps(placement)) == placement


def test_settled_instances_no_longer_reserve_memory_but_still_count_for_spreading() -> None:
    gpus = [GpuInfo(0, "GPU", 24000, 20000, 4000), GpuInfo(1, "GPU", 24000, 20000, 4000)]
    ledger = GpuLedger()
    big = (InstanceGroup(kind="gpu", gpu_memory_mb=15000),)
    (first,) = place("a", big, gpus, ledger, "a:1")
    assert ledger.reserved_mb(first.gpu) == 15000
    # Loaded: NVML now reports the model's memory as used, so the ledger stops counting it.
    ledger.settle("a:1")
    assert ledger.reserved_mb(first.gpu) == 0
    assert ledger.instances_on(first.gpu) == 1
    (second,) = place("b", (InstanceGroup(kind="gpu", gpu_memory_mb=100),), gpus, ledger, "b:1")
    assert second.gpu != first.gpu  # spreading still sees the first model's instance
