"""A helper front end's end of the predict link: a few Unix-socket connections to the main
process, each carrying many Predict (and OIP ModelInfer) calls at once, matched to their replies
by id. A call whose
caller goes away (client cancel, deadline) is cancelled in the main process too (a cancel frame).

A connection that breaks fails its calls with LinkDownError; the main process is then gone or
going, and the helper front end ends with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from pathlib import Path

from runtime.api import link_frames

logger = logging.getLogger(__name__)


class LinkDownError(ConnectionError):
    """The connection to the main process broke before the call's reply came."""


class _Connection:
    """One connection: a writer, and a reader task that settles each call's future."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending: dict[int, asyncio.Future[tuple[bool, bytes]]] = {}
        self._ids = itertools.count(1)
        self.closed = asyncio.Event()
        self._reading = asyncio.create_task(self._read(reader))

    async def call(
        self, payload: bytes, seconds_left: float | None, kind: link_frames.Kind
    ) -> tuple[bool, bytes]:
        if self.closed.is_set():
            raise LinkDownError("the predict link to the main process is closed")
        call_id = next(self._ids)
        future: asyncio.Future[tuple[bool, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            self._writer.write(link_frames.encode_call(call_id, seconds_left, payload, kind))
            await self._writer.drain()
            return await future
        except asyncio.CancelledError:  # the client cancelled or its deadline passed
            if call_id in self._pending and not self.closed.is_set():  # no reply yet
                self._writer.write(link_frames.encode_cancel(call_id))
            raise
        finally:
            self._pending.pop(call_id, None)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        header_size = link_frames.REPLY_HEADER.size
        try:
            while True:
                header = await reader.readexactly(header_size)
                size, call_id, ok = link_frames.parse_reply_header(header)
                body = await reader.readexactly(size)
                future = self._pending.pop(call_id, None)
                if future is not None and not future.done():  # else the caller gave up
                    future.set_result((ok, body))
        except (asyncio.IncompleteReadError, ConnectionError, link_frames.FrameError) as exc:
            logger.warning("predict link to the main process lost: %s", exc or type(exc).__name__)
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(LinkDownError("the main process closed the link"))
            self._pending.clear()

    async def close(self) -> None:
        self._writer.close()
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._reading
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


class LinkPool:
    """Connections to the main process's predict link, used in turn.

    >>> pool = await LinkPool.connect(Path("/run/modelrt/predict.sock"), slot=1)  # doctest: +SKIP
    >>> ok, body = await pool.call(request_bytes, 2.0)  # doctest: +SKIP
    """

    def __init__(self, connections: list[_Connection]) -> None:
        self._connections = connections
        self._turn = itertools.cycle(connections)

    @classmethod
    async def connect(cls, path: Path, slot: int, size: int = 2) -> LinkPool:
        connections = []
        for _ in range(size):
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(link_frames.encode_hello(slot))
            connections.append(_Connection(reader, writer))
        return cls(connections)

    async def call(
        self,
        payload: bytes,
        seconds_left: float | None,
        kind: link_frames.Kind = link_frames.CALL,
    ) -> tuple[bool, bytes]:
        """(ok, body): the serialized response (PredictResponse for CALL, ModelInferResponse for
        INFER), or the google.rpc.Status to end with."""
        return await next(self._turn).call(payload, seconds_left, kind)

    async def wait_broken(self) -> None:
        """Return once any connection has closed (the main process is gone or going)."""
        waits = [asyncio.create_task(c.closed.wait()) for c in self._connections]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._connections), return_exceptions=True)
