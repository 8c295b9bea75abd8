"""Stand-in for ``clarifai.runners.utils.data_utils``: ``Param``, a method argument's default."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Param:
    """The default (and bounds) of a method argument that callers pass as a request parameter.

    >>> def predict(self, prompt: str, temperature: float = Param(default=0.7)) -> str: ...
    """

    def __init__(
        self,
        default: Any,
        description: str | None = None,
        min_value: float | None = None,
        max_value: float | None = None,
        choices: Sequence[Any] | None = None,
        is_param: bool = True,
    ) -> None:
        self.default = default
        self.description = description
        self.min_value = min_value
        self.max_value = max_value
        self.choices = choices
        self.is_param = is_param

    def __repr__(self) -> str:
        return f"Param(default={self.default!r})"

    # A method called directly (not through the runtime) sees its Param as the default value.
    def __float__(self) -> float:
        return float(self.default)

    def __int__(self) -> int:
        return int(self.default)

    def __index__(self) -> int:
        return int(self.default)

    def __str__(self) -> str:
        return str(self.default)

    def __bool__(self) -> bool:
        return bool(self.default)

    def __eq__(self, other: object) -> bool:
        return bool(self.default == other)

    def __hash__(self) -> int:
        return hash(self.default)
