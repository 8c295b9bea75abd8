"""Turns a bundle's instance groups into instance specs: device, environment and interpreter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loader.bundle import PreparedBundle, requirements_of
from runtime.instances.executor import InstanceSpec
from runtime.placement.devices import GpuInventory
from runtime.placement.placement import GpuLedger, place
from runtime.placement.venvs import BundleEnv, ensure_venv

logger = logging.getLogger(__name__)


@dataclass
class InstancePlanner:
    """Places each instance (GPU or CPU) and picks the bundle's interpreter.

    With ``venv_dir`` set, a bundle with a requirements.txt runs in a virtual environment built
    for those requirements (shared by bundles with the same ones); otherwise in the server's.
    """

    inventory: GpuInventory
    strict_requirements: bool = False
    max_sync_workers: int = 4
    max_concurrent_streams: int = 64
    venv_dir: Path | None = None
    ledger: GpuLedger = field(default_factory=GpuLedger)
    make_env: Callable[[Path, Path], BundleEnv] = ensure_venv

    async def plan(self, prepared: PreparedBundle) -> tuple[list[InstanceSpec], list[str]]:
        """The specs of every instance, and notes for the model's status (skipped pins)."""
        owner = f"{prepared.name}:{prepared.version}"
        gpus = await asyncio.to_thread(self.inventory.gpus)
        placements = place(prepared.name, prepared.config.instances, gpus, self.ledger, owner)
        python, notes = await self.interpreter(prepared)
        specs = [
            InstanceSpec(
                prepared=prepared,
                index=index,
                device=placement.device,
                env=dict(placement.env),
                python=python,
                strict_requirements=self.strict_requirements and python is None,
                max_sync_workers=self.max_sync_workers,
                max_concurrent_streams=self.max_concurrent_streams,
            )
            for index, placement in enumerate(placements)
        ]
        return specs, notes

    async def interpreter(self, prepared: PreparedBundle) -> tuple[str | None, list[str]]:
        """The Python that runs the bundle (its venv's, or None for the server's) and notes."""
        requirements = requirements_of(prepared)
        if self.venv_dir is None or requirements is None:
            return None, []
        env = await asyncio.to_thread(self.make_env, requirements, self.venv_dir)
        return str(env.python), list(env.notes)

    def settle(self, prepared: PreparedBundle) -> None:
        """The model's instances have loaded: stop reserving memory the GPUs now report used."""
        self.ledger.settle(f"{prepared.name}:{prepared.version}")

    def release(self, prepared: PreparedBundle) -> None:
        """Give back what the model's instances held on the GPUs."""
        self.ledger.release(f"{prepared.name}:{prepared.version}")
