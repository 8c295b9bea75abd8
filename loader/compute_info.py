"""Maps a Clarifai-style ``inference_compute_info`` onto modelrt instance groups and limits."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from loader.config import InstanceGroup
from loader.errors import BundleError

logger = logging.getLogger(__name__)

_UNITS = {
    "": 1 / (1024 * 1024), "k": 1000 / 1024**2, "m": 1000**2 / 1024**2, "g": 1000**3 / 1024**2,
    "t": 1000**4 / 1024**2, "ki": 1 / 1024, "mi": 1.0, "gi": 1024.0, "ti": 1024.0**2,
}  # fmt: skip
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)


def memory_mb(quantity: str | int | float) -> int:
    """A memory quantity ("24Gi", "16GB", "512Mi", bytes as a number) in MiB, rounded up.

    >>> memory_mb("24Gi"), memory_mb("512Mi"), memory_mb("1G")
    (24576, 512, 954)
    """
    if isinstance(quantity, int | float) and not isinstance(quantity, bool):
        return max(0, -(-int(quantity) // (1024 * 1024)))
    match = _QUANTITY.match(str(quantity))
    if not match:
        raise BundleError(f"inference_compute_info: cannot read memory quantity {quantity!r}")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    return int(-(-number * _UNITS[unit] // 1))


def instance_groups(info: Mapping[str, Any]) -> tuple[InstanceGroup, ...]:
    """Instance groups for ``inference_compute_info`` (num_accelerators, accelerator_memory).

    A model asking for accelerators gets one instance placed on a GPU with that much memory free
    when the server has GPUs (else on the CPU); one asking for none gets one CPU instance.

    >>> instance_groups({"num_accelerators": 1, "accelerator_memory": "8Gi"})[0].gpu_memory_mb
    8192
    """
    accelerators = int(info.get("num_accelerators") or 0)
    if accelerators <= 0:
        return (InstanceGroup(kind="cpu"),)
    if accelerators > 1:
        logger.warning(
            "num_accelerators=%d: modelrt gives each instance one GPU; placing one instance",
            accelerators,
        )
    memory = info.get("accelerator_memory")
    # At least 1 MiB: the group then asks for a GPU even when no memory figure is given.
    needed = max(1, memory_mb(memory)) if memory not in (None, "") else 1
    return (InstanceGroup(kind="auto", gpu_memory_mb=needed),)


def memory_limit_mb(info: Mapping[str, Any]) -> int | None:
    """The per-instance memory limit ``cpu_memory`` asks for, in MiB; None when it is not given.

    On the platform ``cpu_memory`` is the memory limit of the model's container; here it
    bounds each instance (its worker and what that starts).

    >>> memory_limit_mb({"cpu_memory": "1Gi"}), memory_limit_mb({"cpu_limit": "2"})
    (1024, None)
    """
    memory = info.get("cpu_memory")
    return memory_mb(memory) if memory not in (None, "") else None
