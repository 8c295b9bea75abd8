"""Tests for runtime.instances.stream_inputs: Stream requests decoded and checked on the way in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import numpy as np
import pytest

from loader.config import InputSpec
from registry.errors import ModelrtError
from registry.runner import Request
from runtime.errors import BadRequestError
from runtime.instances.executor import Item
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.payload import StreamInput
from runtime.instances.stream_inputs import checked_stream
from runtime.instances.wire import encode_request

pytestmark = pytest.mark.timeout(10)

X = InputSpec(name="x", kind="tensor", dtype="float32", shape=(-1,))


async def _sent(*inputs: StreamInput) -> AsyncIterator[StreamInput]:
    for one in inputs:
        yield one
        await asyncio.sleep(0)


def _good(value: float) -> StreamInput:
    return encode_request({"x": np.full(2, value, np.float32)}, {}, "r")


async def _echo(requests: AsyncIterator[Request]) -> AsyncGenerator[Item, None]:
    async for request in requests:
        yield ModelOutput(outputs={}, structured=float(request["x"][0]))


async def _collect(items: AsyncGenerator[Item, None]) -> list[Any]:
    return [item async for item in items]


def _summary(items: list[Any]) -> list[object]:
    return [
        item.error.reason if isinstance(item, ItemFailure) else item.structured for item in items
    ]


def test_valid_requests_reach_the_model_decoded_and_failed_ones_are_answered_in_place() -> None:
    wrong_dtype = encode_request({"x": np.ones(2, np.int64)}, {}, "r")
    refused = BadRequestError("a Stream serves one model")
    sent = _sent(_good(1), wrong_dtype, _good(2), refused, (b"\xff\xff", "r"), _good(3))
    items = asyncio.run(_collect(checked_stream(sent, (X,), "m", _echo)))
    got = _summary(items)
    assert [value for value in got if isinstance(value, float)] == [1.0, 2.0, 3.0]
    assert sorted(value for value in got if isinstance(value, str)) == sorted(
        ["INVALID_INPUT", "INVALID_REQUEST", "INVALID_INPUT"]
    )


def test_an_error_of_the_model_ends_the_stream_with_it() -> None:
    async def failing(requests: AsyncIterator[Request]) -> AsyncGenerator[Item, None]:
        async for _ in requests:
            yield ModelOutput(outputs={}, structured="first")
            raise ModelrtError("the model gave up")

    items: list[Any] = []

    async def main() -> None:
        async for item in checked_stream(_sent(_good(1), _good(2)), (X,), "m", failing):
            items.append(item)

    with pytest.raises(ModelrtError, match="gave up"):
        asyncio.run(main())
    assert _summary(items) == ["first"]


def test_closing_the_stream_closes_the_model() -> None:
    closed = asyncio.Event()

    async def endless(requests: AsyncIterator[Request]) -> AsyncGenerator[Item, None]:
        try:
            async for request in requests:
                yield ModelOutput(outputs={}, structured=float(request["x"][0]))
            while True:
                await asyncio.sleep(0.01)
                yield ModelOutput(outputs={}, structured="tick")
        finally:
            closed.set()

    async def main() -> None:
        items = checked_stream(_sent(_good(1)), (X,), "m", endless)
        assert _summary([await anext(items)]) == [1.0]
        await items.aclose()
        await asyncio.wait_for(closed.wait(), 5)

    asyncio.run(main())
