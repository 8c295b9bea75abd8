"""One OpenAI-compatible generation: the model's items as text pieces, and SSE that stops it.

``Generation`` reads the items of ``engine.generate`` as text, cuts them at the stop sequences,
counts usage and closes the model's generator when it is done, stopped or abandoned;
``SseResponse`` sends ``data:`` events and ``collect`` gathers the whole text; both close the
generation when the client goes away.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from registry.errors import ModelrtError
from runtime.api.http.errors import internal_error
from runtime.api.http.model_calls import ModelCall
from runtime.api.http.openai_errors import error_object, status_of
from runtime.api.http.openai_mapping import StopScanner, item_text, reported_prompt_tokens
from runtime.engine.models import ModelRecord
from runtime.errors import ModelExecutionError
from runtime.instances.outputs import ItemFailure, ModelOutput

logger = logging.getLogger(__name__)
Items = AsyncGenerator[ModelOutput | ItemFailure, None]
DONE = "data: [DONE]\n\n"


def sse(data: dict[str, Any]) -> str:
    """One server-sent event carrying ``data`` as JSON."""
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


def sse_error(exc: BaseException, route: str) -> str:
    """The event that ends a stream on a failure: OpenAI's error body, which the SDKs raise."""
    error = exc if isinstance(exc, ModelrtError) else internal_error(exc, route)
    return sse({"error": error_object(error, status_of(error))})


class Generation:
    """The text of one Generate call, with usage counts and the finish reason.

    ``await start()`` waits for the first item, so a bad request or an unready model fails the
    HTTP call with its status before any of the response is sent.
    """

    def __init__(
        self,
        record: ModelRecord,
        items: Items,
        stops: list[str],
        max_tokens: int | None,
        prompt: str,
        call: ModelCall | None = None,
    ) -> None:
        self.record = record
        self._call = call
        self._error: BaseException | None = None
        self._items = items
        self._scanner = StopScanner(stops)
        self._max_tokens = max_tokens
        self._first: ModelOutput | ItemFailure | None = None
        self.prompt_tokens = len(prompt.split())
        self.completion_tokens = 0
        self.finish_reason = "stop"

    async def start(self) -> None:
        try:
            self._first = await anext(self._items, None)
        except BaseException as exc:
            self._error = exc
            await self.close()
            raise

    async def close(self) -> None:
        """Close the model's generator (the worker stops generating), even in a cancelled task."""
        with anyio.CancelScope(shield=True):
            await self._items.aclose()
        if self._call is not None:  # counted once, with how it ended
            self._call.finish(self._error)

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }

    def _text(self, item: ModelOutput | ItemFailure) -> str:
        if isinstance(item, ItemFailure):
            error = item.error
            raise error if isinstance(error, ModelrtError) else internal_error(error, "generate")
        text = item_text(item)
        if text is None:
            raise ModelExecutionError(
                f"model {self.record.name!r} generated an item without text (an output or a "
                "structured field named 'token' or 'text')",
                model=self.record.name,
            )
        reported = reported_prompt_tokens(item)
        if reported is not None:
            self.prompt_tokens = reported
        return text

    async def _all_items(self) -> AsyncIterator[ModelOutput | ItemFailure]:
        if self._first is None:
            return
        yield self._first
        async for item in self._items:
            yield item

    async def pieces(self) -> AsyncIterator[str]:
        """The text as it is generated (pieces held back at a possible stop sequence come
        later), up to ``max_tokens`` items; the model's generator is closed when this ends,
        however it ends."""
        try:
            async for item in self._all_items():
                text = self._text(item)
                self.completion_tokens += 1
                ready, stopped = self._scanner.feed(text)
                if ready:
                    yield ready
                if stopped:
                    return  # the finally below ends the model's generator
                if self._max_tokens is not None and self.completion_tokens >= self._max_tokens:
                    self.finish_reason = "length"  # even from a model that ignores max_tokens
                    break
            rest = self._scanner.flush()
            if rest:
                yield rest
        except BaseException as exc:  # a model error, or the client went away
            self._error = exc
            raise
        finally:
            await self.close()

    async def text(self) -> str:
        return "".join([piece async for piece in self.pieces()])


async def collect(generation: Generation, receive: Receive) -> str | None:
    """The whole text of ``generation``, or None when the client went away first; either way
    the model's generator is closed by the time this returns."""
    outcome: list[str | Exception] = []
    async with anyio.create_task_group() as group:

        async def run() -> None:
            try:
                outcome.append(await generation.text())
            except Exception as exc:  # raised below, outside the task group's exception group
                outcome.append(exc)
            group.cancel_scope.cancel()

        group.start_soon(run)
        while (await receive())["type"] != "http.disconnect":
            pass
        group.cancel_scope.cancel()
    await generation.close()
    if not outcome:
        logger.debug("client went away before the completion was done; generation closed")
        return None
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


class SseResponse(StreamingResponse):
    """``text/event-stream`` whose generation is closed as soon as the client disconnects,
    even while the model is between two items, and however the response ends.

    It listens for the disconnect itself: Starlette's StreamingResponse stops doing so when the
    server speaks ASGI 2.4, and would then notice a gone client only at its next send.
    """

    def __init__(self, events: AsyncIterator[str], generation: Generation) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(events, media_type="text/event-stream", headers=headers)
        self._generation = generation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:  # the client went away mid-send
                        logger.debug("SSE client disconnected during a send")
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            await self._generation.close()
