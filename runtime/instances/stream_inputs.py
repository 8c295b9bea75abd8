"""A Stream's requests on their way into the model: decoded and checked one by one.

A request that fails (undecodable, a missing or mistyped input, or refused by the front door
before it got here) is answered with an ItemFailure in its place at once, never reaches the
model, and the stream goes on; the model's own items are passed through as it yields them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from typing import Any

from loader.config import InputSpec
from registry.errors import ModelrtError
from registry.runner import Request
from runtime.errors import model_failure
from runtime.instances.executor import Item
from runtime.instances.outputs import ItemFailure
from runtime.instances.payload import StreamInput
from runtime.instances.wire import decode_request

_DONE = object()
ModelStream = Callable[[AsyncIterator[Request]], AsyncGenerator[Item, None]]


async def checked_stream(
    requests: AsyncIterator[StreamInput],
    specs: Sequence[InputSpec],
    model: str,
    run: ModelStream,
) -> AsyncGenerator[Item, None]:
    """``run``'s items over the valid ``requests``, with each failed request's ItemFailure
    interleaved as soon as it is found."""
    events: asyncio.Queue[Any] = asyncio.Queue()

    async def valid() -> AsyncIterator[Request]:
        async for sent in requests:
            if isinstance(sent, ModelrtError):
                events.put_nowait(ItemFailure(sent))
                continue
            try:
                request = decode_request(sent, specs)
            except ModelrtError as exc:
                events.put_nowait(ItemFailure(exc))
                continue
            except Exception as exc:  # fails this request alone, never the stream
                events.put_nowait(ItemFailure(model_failure(model, sent[1], exc)))
                continue
            yield request

    async def run_model() -> None:
        try:
            async with aclosing(run(valid())) as items:
                async for item in items:
                    events.put_nowait(item)
        except Exception as exc:  # the call's error, raised to its caller below
            events.put_nowait(exc)
        finally:
            events.put_nowait(_DONE)

    task = asyncio.create_task(run_model())
    try:
        while (event := await events.get()) is not _DONE:
            if isinstance(event, BaseException):
                raise event
            yield event
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
