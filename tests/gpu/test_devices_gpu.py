"""GPU discovery and placement on a real CUDA machine (skipped without a GPU)."""

from __future__ import annotations

import pytest

from loader.config import InstanceGroup
from runtime.placement.devices import GpuInfo, SystemInventory, discover_gpus
from runtime.placement.placement import GpuLedger, place

pytestmark = [pytest.mark.gpu, pytest.mark.timeout(60)]


def test_discover_gpus_reports_each_gpu_with_sane_memory(real_gpus: list[GpuInfo]) -> None:
    gpus = discover_gpus()

    assert [gpu.index for gpu in gpus] == [gpu.index for gpu in real_gpus]
    assert len({gpu.index for gpu in gpus}) == len(gpus)
    for gpu in gpus:
        assert gpu.index >= 0
        assert gpu.name
        assert gpu.total_mb > 0
        assert 0 <= gpu.free_mb <= gpu.total_mb
        assert 0 <= gpu.used_mb <= gpu.total_mb


def test_auto_group_asking_memory_is_placed_on_a_real_gpu() -> None:
    gpus = SystemInventory().gpus()
    ledger = GpuLedger()

    [placement] = place("probe", [InstanceGroup(gpu_memory_mb=100)], gpus, ledger, "probe:1")

    assert placement.kind == "gpu"
    assert placement.gpu in {gpu.index for gpu in gpus}
    assert placement.device == "cuda:0"
    assert placement.env["CUDA_VISIBLE_DEVICES"] == str(placement.gpu)
    assert ledger.reserved_mb(placement.gpu) == 100
