"""Tests for runtime.placement.devices: GPU discovery through NVML or torch, and the inventories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from runtime.placement import devices
from runtime.placement.devices import (
    GpuInfo,
    StaticInventory,
    SystemInventory,
    discover_gpus,
    visible_gpu_indices,
)

pytestmark = pytest.mark.timeout(30)

MIB = 1024 * 1024
REPO = Path(__file__).resolve().parents[4]


class FakeNvml:
    """Stands in for the pynvml module of nvidia-ml-py: two GPUs, sizes in bytes."""

    def __init__(self, fail_init: bool = False) -> None:
        self.fail_init = fail_init
        self.shutdowns = 0
        self.devices = [
            (b"Tesla T4", SimpleNamespace(total=16000 * MIB, free=15000 * MIB, used=1000 * MIB)),
            ("NVIDIA A100", SimpleNamespace(total=40000 * MIB, free=1000 * MIB, used=39000 * MIB)),
        ]

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> Any:
        return self.devices[handle][0]

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return self.devices[handle][1]


@pytest.fixture
def nvidia_driver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Pretend the NVIDIA driver is loaded, so discovery may ask torch."""
    marker = tmp_path / "nvidia-version"
    marker.write_text("NVRM version: test\n", encoding="utf-8")
    monkeypatch.setattr(devices, "NVIDIA_DRIVER_FILES", (marker,))


def fake_torch(free_total: list[tuple[int, int]]) -> Any:
    cuda = SimpleNamespace(
        is_available=lambda: bool(free_total),
        device_count=lambda: len(free_total),
        mem_get_info=lambda index: free_total[index],
        get_device_name=lambda index: f"Fake GPU {index}",
    )
    return SimpleNamespace(cuda=cuda)


@pytest.fixture
def no_gpu_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # None in sys.modules: import fails
    monkeypatch.setitem(sys.modules, "torch", None)


def test_discover_gpus_on_this_machine_returns_a_list_without_raising() -> None:
    gpus = discover_gpus()

    assert isinstance(gpus, list)
    assert all(isinstance(gpu, GpuInfo) for gpu in gpus)


@pytest.mark.usefixtures("no_gpu_libraries")
def test_discover_gpus_returns_empty_without_nvml_or_torch() -> None:
    assert discover_gpus() == []


def test_discover_gpus_returns_empty_when_cuda_visible_devices_hides_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())

    assert discover_gpus() == []


def test_importing_devices_does_not_import_torch() -> None:
    code = "import sys, runtime.placement.devices; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=20
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.usefixtures("no_gpu_libraries")
def test_discover_gpus_reads_nvml_in_mib_with_physical_indices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nvml = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)

    assert discover_gpus() == [
        GpuInfo(index=0, name="Tesla T4", total_mb=16000, free_mb=15000, used_mb=1000),
        GpuInfo(index=1, name="NVIDIA A100", total_mb=40000, free_mb=1000, used_mb=39000),
    ]
    assert nvml.shutdowns == 1


@pytest.mark.usefixtures("no_gpu_libraries")
def test_discover_gpus_through_nvml_keeps_only_cuda_visible_devices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")

    assert [gpu.index for gpu in discover_gpus()] == [1]


@pytest.mark.usefixtures("no_gpu_libraries", "nvidia_driver")
def test_discover_gpus_falls_back_to_torch_when_nvml_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(fail_init=True))
    monkeypatch.setitem(sys.modules, "torch", fake_torch([(3000 * MIB, 8000 * MIB)]))

    assert discover_gpus() == [
        GpuInfo(index=0, name="Fake GPU 0", total_mb=8000, free_mb=3000, used_mb=5000)
    ]


@pytest.mark.usefixtures("no_gpu_libraries", "nvidia_driver")
def test_discover_gpus_maps_torch_indices_back_to_physical_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    monkeypatch.setitem(sys.modules, "torch", fake_torch([(MIB, 2 * MIB), (MIB, 2 * MIB)]))

    assert [gpu.index for gpu in discover_gpus()] == [3, 1]


@pytest.mark.usefixtures("no_gpu_libraries", "nvidia_driver")
def test_discover_gpus_returns_empty_when_torch_has_no_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "torch", fake_torch([]))

    assert discover_gpus() == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", []),
        ("0", [0]),
        ("2, 0", [2, 0]),
        ("-1", []),
        ("0,-1,1", [0]),
        ("GPU-8a1c2d3e-0000-1111-2222-333344445555", None),
    ],
)
def test_visible_gpu_indices_follows_cuda_rules(
    value: str | None, expected: list[int] | None
) -> None:
    environ = {} if value is None else {"CUDA_VISIBLE_DEVICES": value}

    assert visible_gpu_indices(environ) == expected


def test_system_inventory_rereads_only_when_stale() -> None:
    now = [100.0]
    calls: list[int] = []

    def discover() -> list[GpuInfo]:
        calls.append(1)
        return [GpuInfo(0, "Fake", 1000, 1000 - len(calls), len(calls))]

    inventory = SystemInventory(max_age_s=2.0, discover=discover, clock=lambda: now[0])

    assert inventory.gpus()[0].free_mb == 999
    now[0] += 1.0
    assert inventory.gpus()[0].free_mb == 999
    now[0] += 1.5
    assert inventory.gpus()[0].free_mb == 998
    assert len(calls) == 2


def test_system_inventory_does_no_discovery_when_built() -> None:
    calls: list[int] = []

    def discover() -> list[GpuInfo]:
        calls.append(1)
        return []

    SystemInventory(discover=discover)

    assert calls == []


def test_static_inventory_returns_the_given_gpus_as_a_fresh_list() -> None:
    gpu = GpuInfo(index=0, name="Fake", total_mb=1000, free_mb=900, used_mb=100)
    inventory = StaticInventory([gpu])

    inventory.gpus().clear()

    assert inventory.gpus() == [gpu]


def test_without_the_nvidia_driver_discovery_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from runtime.placement import devices\n"
        f"devices.NVIDIA_DRIVER_FILES = (Path({str(tmp_path / 'absent')!r}),)\n"
        "sys.modules['pynvml'] = None\n"
        "print(devices.discover_gpus(), 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["[]", "False"], done.stderr
