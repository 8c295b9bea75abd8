"""GPU discovery: which CUDA GPUs this machine has and how much memory each has free.

NVML (the nvidia-ml-py package) first, then torch, else none: no GPU is a normal case, not an error.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

_MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuInfo:
    """One GPU, by its physical index (NVML's, i.e. PCI bus order); memory in MiB.

    >>> GpuInfo(index=0, name="NVIDIA H100", total_mb=81559, free_mb=81000, used_mb=559).free_mb
    81000
    """

    index: int
    name: str
    total_mb: int
    free_mb: int
    used_mb: int


#: Files that exist only where the NVIDIA driver is loaded. Without the driver torch sees no GPU,
#: so it is not imported just to say so.
NVIDIA_DRIVER_FILES = (Path("/proc/driver/nvidia/version"), Path("/dev/nvidiactl"))


def visible_gpu_indices(environ: Mapping[str, str]) -> list[int] | None:
    """The physical indices CUDA_VISIBLE_DEVICES lets this process use, in its order.

    None means no restriction is known: the variable is unset, or it names GPUs by UUID.
    Like CUDA, an entry that is not an index ends the list ("-1" hides every GPU).

    >>> visible_gpu_indices({"CUDA_VISIBLE_DEVICES": "2,0"})
    [2, 0]
    >>> visible_gpu_indices({"CUDA_VISIBLE_DEVICES": ""})
    []
    """
    value = environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    indices: list[int] = []
    for raw in value.split(","):
        entry = raw.strip()
        if entry.startswith(("GPU-", "MIG-")):
            return None
        if not entry.isdigit():
            break
        indices.append(int(entry))
    return indices


def discover_gpus() -> list[GpuInfo]:
    """The GPUs this process may use, with physical indices; [] when there are none. Never raises.

    Indices are NVML's physical ones (PCI bus order), also when an already-set
    CUDA_VISIBLE_DEVICES restricts the process: only the GPUs it lists are reported, under their
    physical index. Without nvidia-ml-py, torch is asked instead; its ``mem_get_info`` creates a
    CUDA context on each GPU in this process (a few hundred MiB each), so prefer NVML on servers.

    >>> isinstance(discover_gpus(), list)
    True
    """
    visible = visible_gpu_indices(os.environ)
    if visible == []:
        logger.debug("CUDA_VISIBLE_DEVICES hides every GPU from this process")
        return []
    if visible is None and "CUDA_VISIBLE_DEVICES" in os.environ:
        logger.warning("CUDA_VISIBLE_DEVICES names GPUs by UUID; every GPU found will be used")
    for source, read in (("NVML", _read_nvml), ("torch", _read_torch)):
        gpus = read(visible)
        if gpus is not None:
            logger.debug("GPU discovery through %s found %d GPU(s)", source, len(gpus))
            return gpus
    logger.debug("GPU discovery: neither NVML nor torch with CUDA is available; no GPU")
    return []


def _read_nvml(visible: list[int] | None) -> list[GpuInfo] | None:
    """The GPUs NVML reports, or None when NVML is missing or fails."""
    try:
        nvml: Any = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception as exc:  # ImportError, NVMLError, a broken driver library: all mean "no NVML"
        logger.debug("NVML unavailable: %s", exc)
        return None
    try:
        count = int(nvml.nvmlDeviceGetCount())
        gpus = [_nvml_gpu(nvml, index) for index in range(count)]
    except Exception as exc:
        logger.debug("NVML failed while listing GPUs: %s", exc)
        return None
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return gpus if visible is None else [gpu for gpu in gpus if gpu.index in visible]


def _nvml_gpu(nvml: Any, index: int) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    name = nvml.nvmlDeviceGetName(handle)
    if isinstance(name, bytes):  # older nvidia-ml-py releases return bytes
        name = name.decode("utf-8", errors="replace")
    return GpuInfo(
        index=index,
        name=str(name),
        total_mb=int(memory.total) // _MIB,
        free_mb=int(memory.free) // _MIB,
        used_mb=int(memory.used) // _MIB,
    )


def nvidia_driver_present() -> bool:
    """Whether the NVIDIA driver is loaded on this machine (one of its files exists).

    >>> isinstance(nvidia_driver_present(), bool)
    True
    """
    return any(path.exists() for path in NVIDIA_DRIVER_FILES)


def _read_torch(visible: list[int] | None) -> list[GpuInfo] | None:
    """The GPUs torch sees (renumbered by CUDA_VISIBLE_DEVICES, so mapped back), or None."""
    if not nvidia_driver_present():
        return None  # torch could see no GPU; importing it would only grow the server by ~180 MiB
    try:
        torch: Any = importlib.import_module("torch")
        if not torch.cuda.is_available():
            return []
        gpus = []
        for index in range(int(torch.cuda.device_count())):
            free, total = (int(value) for value in torch.cuda.mem_get_info(index))
            physical = visible[index] if visible is not None and index < len(visible) else index
            name = str(torch.cuda.get_device_name(index))
            gpus.append(
                GpuInfo(physical, name, total // _MIB, free // _MIB, (total - free) // _MIB)
            )
    except Exception as exc:  # ImportError, or a torch build whose CUDA libraries do not load
        logger.debug("torch cannot report GPUs: %s", exc)
        return None
    return gpus


class GpuInventory(Protocol):
    """Where placement gets the GPU list from.

    >>> StaticInventory([]).gpus()
    []
    """

    def gpus(self) -> list[GpuInfo]:
        """The GPUs available now, with their free memory."""
        ...


class SystemInventory:
    """The machine's GPUs through :func:`discover_gpus`, re-read when older than ``max_age_s``.

    Discovery can block (torch import, driver calls): call ``gpus()`` off the event loop.

    >>> isinstance(SystemInventory(max_age_s=2.0).gpus(), list)
    True
    """

    def __init__(
        self,
        max_age_s: float = 2.0,
        discover: Callable[[], list[GpuInfo]] = discover_gpus,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age_s = max_age_s
        self._discover = discover
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[GpuInfo, ...] | None = None
        self._read_at = 0.0

    def gpus(self) -> list[GpuInfo]:
        """The GPUs found by the last discovery, run again when it is stale."""
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._read_at >= self._max_age_s:
                self._cached = tuple(self._discover())
                self._read_at = now
            return list(self._cached)


class StaticInventory:
    """A fixed GPU list: for tests, and for an operator who states the GPUs instead.

    >>> StaticInventory([GpuInfo(0, "test", 1000, 900, 100)]).gpus()[0].free_mb
    900
    """

    def __init__(self, gpus: Sequence[GpuInfo]) -> None:
        self._gpus = tuple(gpus)

    def gpus(self) -> list[GpuInfo]:
        """The GPUs given at construction."""
        return list(self._gpus)
