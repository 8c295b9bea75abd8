"""Where a model's hooks run in an instance: a private event loop thread for its async hooks,
and its generators advanced one item at a time off the caller's loop.

Closing what ``drain`` yields closes the model's generator too, on the thread it runs on, once
no step is running on it (a running generator cannot be closed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: Marks the end of a model generator (or of an input queue).
END = object()


class ModelLoop:
    """A private event loop in its own thread, where a model's async hooks run."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    async def run(self, coro: Awaitable[T]) -> T:
        future = asyncio.run_coroutine_threadsafe(_await(coro), self.loop)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _next_or_end(iterator: Iterator[Any]) -> Any:
    try:
        return next(iterator)
    except StopIteration:
        return END


async def drain(
    produced: Any, pool: concurrent.futures.Executor, model_loop: ModelLoop | None
) -> AsyncGenerator[Any, None]:
    """Yield a hook's items one by one: an async generator's on ``model_loop``, a sync one's
    steps in ``pool``. Closing this generator closes the model's."""
    if hasattr(produced, "__anext__"):
        assert model_loop is not None
        async with aclosing(_drain_async(produced, model_loop)) as items:
            async for item in items:
                yield item
        return
    if not hasattr(produced, "__next__"):
        produced = iter(produced)
    running: concurrent.futures.Future[Any] | None = None
    try:
        while True:
            running = pool.submit(_next_or_end, produced)
            item = await asyncio.wrap_future(running)
            running = None
            if item is END:
                return
            yield item
    finally:
        if hasattr(produced, "close"):
            _close_when_idle(pool, running, produced.close)


async def _drain_async(produced: Any, model_loop: ModelLoop) -> AsyncGenerator[Any, None]:
    try:
        while True:
            try:
                item = await model_loop.run(produced.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        asyncio.run_coroutine_threadsafe(_aclose_quietly(produced), model_loop.loop)


async def _aclose_quietly(produced: Any) -> None:
    try:
        await produced.aclose()
    except Exception:
        logger.exception("closing a model's async generator raised")


def _close_when_idle(
    pool: concurrent.futures.Executor,
    running: concurrent.futures.Future[Any] | None,
    close: Callable[[], Any],
) -> None:
    """Close a model generator once no ``next()`` runs on it (a running generator can't close)."""

    def close_quietly(_: object = None) -> None:
        try:
            close()
        except Exception:
            logger.exception("closing a model generator raised")

    if running is not None and not running.done():
        running.add_done_callback(close_quietly)
    else:
        try:
            pool.submit(close_quietly)
        except RuntimeError:  # the pool is shut down: close right here
            close_quietly()
