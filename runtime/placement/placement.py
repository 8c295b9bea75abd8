"""Placing model instances: which GPU (or the CPU) each instance of a model's groups runs on.

Pure logic over a list of GPUs; a GpuLedger remembers what placed instances hold on each GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from loader.config import InstanceGroup
from registry.errors import ErrorCode, ModelrtError
from runtime.placement.devices import GpuInfo

logger = logging.getLogger(__name__)


class PlacementError(ModelrtError):
    """A model's instance groups cannot be placed on this server's devices.

    >>> PlacementError("model 'llm': instance group 1 asks for a GPU").reason
    'PLACEMENT_FAILED'
    """

    code = ErrorCode.RESOURCE_EXHAUSTED
    reason = "PLACEMENT_FAILED"


@dataclass(frozen=True)
class Placement:
    """Where one instance runs; ``env`` goes into its worker's environment.

    A GPU instance's worker sees only its GPU, so its device is always "cuda:0" in there.
    CUDA_DEVICE_ORDER=PCI_BUS_ID makes CUDA number GPUs the way NVML does.

    >>> Placement.on_gpu(1).env["CUDA_VISIBLE_DEVICES"], Placement.on_gpu(1).device
    ('1', 'cuda:0')
    """

    kind: Literal["cpu", "gpu"]
    gpu: int | None
    device: str
    env: Mapping[str, str] = field(hash=False)

    @classmethod
    def cpu(cls) -> Placement:
        """A CPU instance; CUDA_VISIBLE_DEVICES="" hides every GPU from it."""
        return cls(kind="cpu", gpu=None, device="cpu", env={"CUDA_VISIBLE_DEVICES": ""})

    @classmethod
    def on_gpu(cls, index: int) -> Placement:
        """An instance on the GPU with this physical index."""
        env = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": str(index)}
        return cls(kind="gpu", gpu=index, device="cuda:0", env=env)


@dataclass
class _Hold:
    instances: int = 0
    reserved_mb: int = 0


class GpuLedger:
    """What placed instances hold on each GPU (instances, reserved MiB), by owner.

    Not thread-safe: place and release from one thread (the engine's event loop).

    >>> ledger = GpuLedger()
    >>> ledger.reserve("llm:1", [Placement.on_gpu(0)], memory_mb_each=8000)
    >>> ledger.reserved_mb(0), ledger.instances_on(0)
    (8000, 1)
    >>> ledger.release("llm:1")
    >>> ledger.reserved_mb(0)
    0
    """

    def __init__(self) -> None:
        self._holds: dict[str, dict[int, _Hold]] = {}

    def reserve(self, owner: str, placements: Sequence[Placement], memory_mb_each: int) -> None:
        """Add the GPU placements to what ``owner`` holds; CPU placements hold nothing."""
        if memory_mb_each < 0:
            raise ValueError("memory_mb_each must be >= 0")
        for placement in placements:
            if placement.gpu is None:
                continue
            hold = self._holds.setdefault(owner, {}).setdefault(placement.gpu, _Hold())
            hold.instances += 1
            hold.reserved_mb += memory_mb_each

    def release(self, owner: str) -> None:
        """Forget everything ``owner`` holds (on unload); an unknown owner is a no-op."""
        self._holds.pop(owner, None)

    def settle(self, owner: str) -> None:
        """``owner``'s instances have loaded: the GPU's own free memory now shows what they use.

        Their reserved memory is dropped (keeping it would count it twice against the GPU's
        free memory); their instance counts stay, for spreading later instances.

        >>> ledger = GpuLedger()
        >>> ledger.reserve("llm:1", [Placement.on_gpu(0)], memory_mb_each=8000)
        >>> ledger.settle("llm:1")
        >>> ledger.reserved_mb(0), ledger.instances_on(0)
        (0, 1)
        """
        for hold in self._holds.get(owner, {}).values():
            hold.reserved_mb = 0

    def instances_on(self, gpu: int) -> int:
        """How many placed instances the GPU holds, over all owners."""
        return sum(holds[gpu].instances for holds in self._holds.values() if gpu in holds)

    def reserved_mb(self, gpu: int) -> int:
        """How much memory (MiB) placed instances reserved on the GPU, over all owners."""
        return sum(holds[gpu].reserved_mb for holds in self._holds.values() if gpu in holds)

    def owners(self) -> list[str]:
        """The owners that hold something on a GPU, sorted."""
        return sorted(self._holds)


def place(
    model: str,
    groups: Sequence[InstanceGroup],
    gpus: Sequence[GpuInfo],
    ledger: GpuLedger,
    owner: str,
) -> list[Placement]:
    """One placement per instance, group by group; reserves them in ``ledger`` under ``owner``.

    All or nothing: on PlacementError the ledger is left as it was.

    >>> place("echo", [InstanceGroup()], [], GpuLedger(), "echo:1")
    [Placement(kind='cpu', gpu=None, device='cpu', env={'CUDA_VISIBLE_DEVICES': ''})]
    """
    plan = _Plan(model, gpus, ledger)
    chosen = [plan.place_group(number, group) for number, group in enumerate(groups, start=1)]
    for group, placements in zip(groups, chosen, strict=True):
        ledger.reserve(owner, placements, group.gpu_memory_mb)
    flat = [placement for placements in chosen for placement in placements]
    where = ", ".join("CPU" if p.gpu is None else f"GPU {p.gpu}" for p in flat)
    logger.info("model %r: placed %d instance(s): %s", model, len(flat), where)
    return flat


def _wants_gpu(group: InstanceGroup) -> bool:
    if group.kind == "auto":
        return bool(group.gpus) or group.gpu_memory_mb > 0
    return group.kind == "gpu"


class _Plan:
    """Placement of one model in progress: the ledger's counts plus this model's own choices."""

    def __init__(self, model: str, gpus: Sequence[GpuInfo], ledger: GpuLedger) -> None:
        self.model = model
        self.gpus = {gpu.index: gpu for gpu in gpus}
        self.instances = {index: ledger.instances_on(index) for index in self.gpus}
        self.reserved = {index: ledger.reserved_mb(index) for index in self.gpus}

    def free_mb(self, index: int) -> int:
        return max(0, self.gpus[index].free_mb - self.reserved[index])

    def place_group(self, number: int, group: InstanceGroup) -> list[Placement]:
        if not _wants_gpu(group):
            if group.kind == "cpu" and (group.gpus or group.gpu_memory_mb):
                logger.warning(
                    "model %r: instance group %d is kind cpu; its gpus/gpu_memory_mb are ignored",
                    self.model,
                    number,
                )
            return [Placement.cpu() for _ in range(group.count)]
        if not self.gpus:
            if group.kind == "gpu":
                raise self._error(number, group, f"{_ask(group)}; this server has no GPU")
            logger.info(
                "model %r: instance group %d asks for a GPU; this server has none: CPU instead",
                self.model,
                number,
            )
            return [Placement.cpu() for _ in range(group.count)]
        allowed = self._allowed(number, group)
        before = {index: (self.free_mb(index), self.reserved[index]) for index in allowed}
        placements = []
        for placed in range(group.count):
            fits = [i for i in allowed if self.free_mb(i) >= group.gpu_memory_mb]
            if not fits:
                only = f"; only {placed} fit" if placed else ""
                detail = f"{_ask(group)}{only}; free: {_describe_free(before)}"
                raise self._error(number, group, detail)
            index = min(fits, key=lambda i: (self.instances[i], -self.free_mb(i), i))
            self.instances[index] += 1
            self.reserved[index] += group.gpu_memory_mb
            placements.append(Placement.on_gpu(index))
        return placements

    def _allowed(self, number: int, group: InstanceGroup) -> list[int]:
        if not group.gpus:
            return sorted(self.gpus)
        missing = [index for index in group.gpus if index not in self.gpus]
        if missing:
            names = ", ".join(str(index) for index in missing)
            have = ", ".join(str(index) for index in sorted(self.gpus))
            detail = f"names GPU {names}, which this server does not have (it has GPU {have})"
            raise self._error(number, group, detail)
        return list(dict.fromkeys(group.gpus))

    def _error(self, number: int, group: InstanceGroup, detail: str) -> PlacementError:
        message = f"model {self.model!r}: instance group {number} {detail}"
        return PlacementError(
            message, metadata={"model": self.model, "instance_group": str(number)}
        )


def _describe_free(before: Mapping[int, tuple[int, int]]) -> str:
    """ "GPU 0 3000 MiB, GPU 1 6000 MiB (after 2000 MiB reserved)": free memory before the group."""
    parts = []
    for index, (free_mb, reserved_mb) in before.items():
        note = f" (after {reserved_mb} MiB reserved)" if reserved_mb else ""
        parts.append(f"GPU {index} {free_mb} MiB{note}")
    return ", ".join(parts)


def _ask(group: InstanceGroup) -> str:
    """The group's request in words: "asks for 2 instances on a GPU with 8000 MiB free"."""
    plural = "s" if group.count != 1 else ""
    where = "a GPU" if not group.gpus else "GPU " + " or ".join(map(str, group.gpus))
    memory = f" with {group.gpu_memory_mb} MiB free" if group.gpu_memory_mb else ""
    return f"asks for {group.count} instance{plural} on {where}{memory}"
