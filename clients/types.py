"""The frozen dataclasses the client SDK returns: predictions, stream items, model descriptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clients.errors import ItemError


@dataclass(frozen=True)
class Prediction:
    """The answer of a Predict call.

    ``outputs`` holds the named outputs decoded (numpy arrays, bytes, str or JSON values) and
    ``structured`` the model's structured output as plain JSON (None when it sent none).

    >>> prediction = client.predict("echo", {"text": "hi"})
    >>> prediction.structured
    {'text': 'hi'}
    """

    model: str
    version: str
    request_id: str
    outputs: dict[str, Any] = field(default_factory=dict)
    structured: Any = None


@dataclass(frozen=True)
class StreamItem:
    """One item of a Generate or Stream call; ``error`` is set when this item failed.

    >>> for item in client.generate("llm", {"prompt": "hi"}):
    ...     print(item.index, item.structured)
    0 {'token': 'Hello'}
    """

    index: int
    model: str
    version: str
    request_id: str
    outputs: dict[str, Any] = field(default_factory=dict)
    structured: Any = None
    error: ItemError | None = None

    @property
    def ok(self) -> bool:
        """Whether this item carries a result rather than an error."""
        return self.error is None


@dataclass(frozen=True)
class InputSpec:
    """One declared input of a model: kind ("tensor", "bytes", "text", "json"), dtype and shape.

    ``dtype`` is a name such as "float32" (None when not a tensor or not fixed) and ``shape`` uses
    -1 for a dimension of any size (None for any shape).

    >>> InputSpec("x", "tensor", "float32", (-1, 3))
    InputSpec(name='x', kind='tensor', dtype='float32', shape=(-1, 3), optional=False)
    """

    name: str
    kind: str
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    optional: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """One model version as the server describes it (ListModels, GetModel, lifecycle calls).

    ``state`` is "LOADING", "READY", "FAILED" (see ``reason``) or "UNLOADED"; ``model_type``,
    ``framework`` and ``format`` are lower-case names as in a bundle config ("text_generation",
    "onnx", "native"), empty when not stated.

    >>> info = client.get_model("echo")
    >>> info.state, info.capabilities
    ('READY', ('predict',))
    """

    name: str
    version: str
    state: str
    reason: str = ""
    model_type: str = ""
    framework: str = ""
    description: str = ""
    labels: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    inputs: tuple[InputSpec, ...] = ()
    output_schema: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    max_batch_size: int = 0
    source: str = ""
    format: str = ""
    state_time: datetime | None = None

    @property
    def ready(self) -> bool:
        """Whether the model version answers calls."""
        return self.state == "READY"


@dataclass(frozen=True)
class UploadResult:
    """What an upload stored: the new model version (READY, FAILED or UNLOADED) and its sha256.

    >>> result = client.upload("examples/sentiment")
    >>> result.model.version, len(result.sha256)
    ('1', 64)
    """

    model: ModelInfo
    sha256: str
