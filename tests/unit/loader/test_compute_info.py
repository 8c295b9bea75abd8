"""Clarifai-style inference_compute_info -> instance groups."""

from __future__ import annotations

import pytest

from loader.compute_info import instance_groups, memory_mb
from loader.errors import BundleError
from runtime.placement.devices import GpuInfo
from runtime.placement.placement import GpuLedger, place


@pytest.mark.parametrize(
    ("quantity", "mib"),
    [("24Gi", 24576), ("512Mi", 512), ("16GB", 15259), ("1.5Gi", 1536), (1048576, 1), ("0", 0)],
)
def test_memory_quantities_convert_to_mib(quantity, mib) -> None:
    assert memory_mb(quantity) == mib


def test_unreadable_memory_is_a_bundle_error_naming_it() -> None:
    with pytest.raises(BundleError, match="lots"):
        memory_mb("lots")


def test_no_accelerators_is_one_cpu_instance() -> None:
    (group,) = instance_groups({"cpu_limit": "2", "num_accelerators": 0})
    assert (group.kind, group.count) == ("cpu", 1)


def test_accelerators_place_on_a_gpu_with_the_memory_asked_for() -> None:
    groups = instance_groups({"num_accelerators": 1, "accelerator_memory": "8Gi"})
    gpus = [GpuInfo(0, "A10G", 24000, 20000, 4000)]
    (placement,) = place("clarifai-model", groups, gpus, GpuLedger(), "clarifai-model:1")
    assert (placement.kind, placement.device) == ("gpu", "cuda:0")


def test_accelerators_fall_back_to_cpu_on_a_server_without_gpus() -> None:
    groups = instance_groups({"num_accelerators": 1})
    (placement,) = place("clarifai-model", groups, [], GpuLedger(), "clarifai-model:1")
    assert placement.kind == "cpu"
