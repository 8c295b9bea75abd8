"""Model records: the engine's view of each model version (state, reason, bundle, instances).

Also the one check of the model names and versions that calls give (``check_model_ref``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.config import model_name_problem, version_problem
from registry.errors import ErrorCode, ModelrtError

if TYPE_CHECKING:
    from loader.bundle import PreparedBundle
    from runtime.engine.scheduler import ModelScheduler
    from runtime.instances.executor import Executor, LoadedModel
    from runtime.store.store import StoredVersion


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


class InvalidModelNameError(ModelrtError):
    """A call names no model, or names it with something that cannot be a model name or version."""

    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_MODEL_NAME"


def check_model_ref(name: str, version: str = "", *, field: str = "name") -> None:
    """Refuse an empty, malformed or reserved model name, or a malformed version ("" = any).

    ``field`` names the request field in the message. Only listing takes no name.

    >>> check_model_ref("iris", "2")
    >>> check_model_ref("")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    runtime.engine.models.InvalidModelNameError: name '' is empty: ...
    """
    if problem := model_name_problem(name):
        raise InvalidModelNameError(
            f"{field} {name[:64]!r} {problem}", metadata={"field": field, "value": name[:64]}
        )
    if version and (problem := version_problem(version)):
        raise InvalidModelNameError(
            f"version {version[:64]!r} {problem}",
            metadata={"field": "version", "value": version[:64]},
        )
