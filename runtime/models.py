"""Model records: the engine's view of each model version (state, reason, bundle, executor)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loader.bundle import BundleSpec, PreparedBundle
    from runtime.executor import Executor


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
    spec: BundleSpec | None = None
    executor: Executor | None = None
    warnings: list[str] = field(default_factory=list)
    state_time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    @property
    def capabilities(self) -> tuple[str, ...]:
        return self.spec.capabilities if self.spec else ()

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the output schema class, when the bundle registers one."""
        schema_cls = self.spec.schema_cls if self.spec else None
        if schema_cls is None:
            return None
        if hasattr(schema_cls, "model_json_schema"):
            return dict(schema_cls.model_json_schema())
        return dict(schema_cls.schema())  # type: ignore[attr-defined]  # pydantic v1-style

    def set_state(self, state: ModelState, reason: str = "") -> None:
        self.state = state
        self.reason = reason
        self.state_time = datetime.now(UTC)
