"""Stand-in for ``clarifai.runners.models.model_class``: ``ModelClass`` and its method marker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute the SDK's marker sets on a method; modelrt looks for it on either SDK.
METHOD_MARK = "_cf_method_info"


class ModelClass:
    """Base class of Python-typed models; mark the callable methods with ``@ModelClass.method``.

    >>> class Echo(ModelClass):
    ...     @ModelClass.method
    ...     def predict(self, text: str) -> str:
    ...         return text
    """

    #: Token counts the model reported per thread (modelrt keeps, but does not report, them).
    _usage = threading.local()

    @staticmethod
    def method(func: F) -> F:
        """Mark ``func`` as callable by clients; its type hints say how to convert values."""
        setattr(func, METHOD_MARK, func.__name__)
        return func

    def load_model(self) -> None:
        """Load weights; called once before any request."""

    def set_output_context(
        self,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cached_tokens: int | None = None,
    ) -> None:
        """Record the token counts of the output being produced on this thread."""
        ModelClass._usage.last = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cached_tokens": cached_tokens,
        }
