"""The helper front end's end of the predict link, against a scripted main process on a real
Unix socket: replies matched by id, cancel frames, a broken link failing its calls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from runtime.api import link_frames
from runtime.api.link_client import LinkDownError, LinkPool

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, int, float | None, bytes]:
    header = await reader.readexactly(link_frames.CALL_HEADER.size)
    kind, size, call_id, left = link_frames.parse_call_header(header)
    return kind, call_id, left, await reader.readexactly(size)


def _run(tmp_path: Path, script: Script, client: Callable[[LinkPool], Awaitable[None]]) -> None:
    async def main() -> None:
        path = tmp_path / "link.sock"
        hellos: list[int] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            hellos.append(link_frames.parse_hello(await reader.readexactly(8)))
            await script(reader, writer)

        server = await asyncio.start_unix_server(serve, path=str(path))
        pool = await LinkPool.connect(path, slot=3, size=1)
        try:
            await asyncio.wait_for(client(pool), 10)
        finally:
            await pool.close()
            server.close()
        assert hellos == [3]

    asyncio.run(main())


def test_replies_that_come_back_out_of_order_reach_their_own_calls(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await _read_frame(reader)
        second = await _read_frame(reader)
        for _, call_id, left, payload in (second, first):  # the later call answers first
            writer.write(link_frames.encode_reply(call_id, True, payload + f"|{left}".encode()))
        writer.write(link_frames.encode_reply(99, True, b"nobody asked"))  # dropped
        await writer.drain()
        await asyncio.sleep(5)

    async def client(pool: LinkPool) -> None:
        answers = await asyncio.gather(pool.call(b"one", 1.5), pool.call(b"two", None))
        assert answers == [(True, b"one|1.5"), (True, b"two|None")]

    _run(tmp_path, script, client)


def test_a_status_reply_comes_back_as_not_ok(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, call_id, _, _ = await _read_frame(reader)
        writer.write(link_frames.encode_reply(call_id, False, b"status bytes"))
        await writer.drain()
        await asyncio.sleep(5)

    async def client(pool: LinkPool) -> None:
        assert await pool.call(b"x", None) == (False, b"status bytes")

    _run(tmp_path, script, client)


def test_a_call_whose_caller_gives_up_is_cancelled_on_the_link(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    both: list[asyncio.Event] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            kind, call_id, _, _ = await _read_frame(reader)
            seen.append((kind, call_id))
        both[0].set()
        await asyncio.sleep(5)

    async def client(pool: LinkPool) -> None:
        both.append(asyncio.Event())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pool.call(b"slow", 0.1), 0.1)
        await both[0].wait()

    _run(tmp_path, script, client)
    assert seen == [(link_frames.CALL, 1), (link_frames.CANCEL, 1)]


def test_a_broken_link_fails_the_calls_in_flight_and_the_next_ones(tmp_path: Path) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_frame(reader)
        writer.close()  # the main process went away mid-call

    async def client(pool: LinkPool) -> None:
        with pytest.raises(LinkDownError):
            await pool.call(b"x", None)
        await pool.wait_broken()
        with pytest.raises(LinkDownError):
            await pool.call(b"y", None)

    _run(tmp_path, script, client)
