"""The executor interface: how the engine runs one model instance's hooks, wherever it lives.

The engine only talks to an Executor; this module defines the interface and the executor
factory signature. runtime/inprocess.py runs instances inside the server process; a later
executor backs the same interface with worker processes.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from loader.bundle import BundleSpec
from registry.runner import ModelContext, Request


class Executor(abc.ABC):
    """Runs the hooks of one model instance. Raises whatever the model raises."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Build the model instance and run its ``load_model``."""

    @abc.abstractmethod
    async def predict(self, request: Request) -> Any:
        """Run ``predict`` (or ``predict_batch`` with one request)."""

    @abc.abstractmethod
    async def predict_batch(self, requests: list[Request]) -> list[Any]:
        """Run ``predict_batch`` (or ``predict`` once per request); returns one result each."""

    @abc.abstractmethod
    def generate(self, request: Request) -> AsyncGenerator[Any, None]:
        """Yield ``generate``'s items as the model produces them; closing it stops the model."""

    @abc.abstractmethod
    def stream(self, requests: AsyncIterator[Request]) -> AsyncGenerator[Any, None]:
        """Feed ``requests`` to ``stream`` as they arrive and yield its outputs as produced."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Release the instance and everything it holds."""


#: Builds an executor for a bundle and its context (the engine is given one at start-up).
ExecutorFactory = Callable[[BundleSpec, ModelContext], Executor]
