"""Model records: the engine's view of each model version (state, reason, bundle, instances)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loader.bundle import PreparedBundle
    from runtime.executor import Executor, LoadedModel
    from runtime.scheduler import ModelScheduler
    from runtime.store import StoredVersion


class ModelState(StrEnum):
    """Lifecycle of a model version: LOADING -> READY | FAILED; UNLOADED after an unload."""

    LOADING = "LOADING"
    READY = "READY"
    FAILED = "FAILED"
    UNLOADED = "UNLOADED"


@dataclass
class ModelRecord:
    """One model version known to the engine."""

    name: str
    version: str
    source: Path
    state: ModelState = ModelState.LOADING
    reason: str = ""
    prepared: PreparedBundle | None = None
    loaded: LoadedModel | None = None
    instances: list[Executor] = field(default_factory=list)
    scheduler: ModelScheduler | None = None
    warnings: list[str] = field(default_factory=list)
    entry: StoredVersion | None = None
    state_time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    @property
    def capabilities(self) -> tuple[str, ...]:
        return self.loaded.capabilities if self.loaded else ()

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the model's output schema, when its bundle registers one."""
        return self.loaded.output_schema if self.loaded else None

    @property
    def instances_up(self) -> int:
        return self.scheduler.instances_up if self.scheduler else 0

    @property
    def serving(self) -> bool:
        """READY with at least one instance able to take calls."""
        return self.state is ModelState.READY and self.instances_up > 0

    def set_state(self, state: ModelState, reason: str = "") -> None:
        self.state = state
        self.reason = reason
        self.state_time = datetime.now(UTC)
