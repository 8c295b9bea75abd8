"""Stand-in for ``clarifai.runners.models.model_runner``: the proto-style ``ModelRunner`` base.

Subclasses implement ``load_model()``, ``predict(request)``, ``generate(request)`` and
``stream(request_iterator)`` over clarifai-grpc's PostModelOutputsRequest/MultiOutputResponse.
"""

from __future__ import annotations

from typing import Any


class ModelRunner:
    """Base class of proto-style models; construction arguments (runner ids) are accepted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The platform passes runner and nodepool ids; a model needs none of them."""

    def load_model(self) -> None:
        """Load weights; called once before any request."""
