"""Samples one GPU's utilisation and memory through NVML (nvidia-ml-py) in a background thread.

Without NVML (no package, no driver) every reading is None and the report says n/a.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import statistics
import threading
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

_MIB = 1024 * 1024
PERIOD_S = 0.1


@dataclass(frozen=True)
class GpuSample:
    """Over one measured window: mean and peak utilisation (%), peak memory used (MiB)."""

    util_mean: float | None
    util_max: float | None
    mem_max_mib: float | None
    samples: int


def nvml_facts(index: int = 0) -> dict[str, str]:
    """Name, driver and total memory of GPU ``index``, or {} without NVML.

    >>> isinstance(nvml_facts(), dict)
    True
    """
    try:
        nvml: Any = importlib.import_module("pynvml")
        nvml.nvmlInit()
    except Exception:
        return {}
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        name, driver = nvml.nvmlDeviceGetName(handle), nvml.nvmlSystemGetDriverVersion()
        total = int(nvml.nvmlDeviceGetMemoryInfo(handle).total) // _MIB
        return {"gpu": _text(name), "driver": _text(driver), "gpu_memory_mib": str(total)}
    except Exception as exc:
        logger.warning("NVML facts failed: %s", exc)
        return {}
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Sampler:
    """``with Sampler() as s: ...`` samples every PERIOD_S; ``s.result()`` summarises."""

    def __init__(self, index: int = 0) -> None:
        self._index = index
        self._stop = threading.Event()
        self._util: list[float] = []
        self._mem: list[float] = []
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            nvml: Any = importlib.import_module("pynvml")
            nvml.nvmlInit()
            handle = nvml.nvmlDeviceGetHandleByIndex(self._index)
        except Exception:
            return
        try:
            while not self._stop.wait(PERIOD_S):
                self._util.append(float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                self._mem.append(int(nvml.nvmlDeviceGetMemoryInfo(handle).used) / _MIB)
        except Exception as exc:
            logger.warning("NVML sampling stopped: %s", exc)
        finally:
            with contextlib.suppress(Exception):
                nvml.nvmlShutdown()

    def result(self) -> GpuSample:
        if not self._util:
            return GpuSample(None, None, None, 0)
        return GpuSample(
            statistics.fmean(self._util), max(self._util), max(self._mem), len(self._util)
        )
