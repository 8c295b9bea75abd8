"""Messages between the server and its worker processes: pickle 5, large buffers in shared memory.

A frame is a 12-byte header (body length, shared-memory segment count) and a pickle. Arrays of
``SHM_THRESHOLD`` bytes or more travel out of band: copied once into a shared-memory segment
that the receiver copies out of and unlinks, instead of going through the pipe. Smaller ones
stay inside the pickle as raw bytes with their dtype string and shape, which costs a fraction
of numpy's own pickling (it pickles a dtype object per array).

The server reads with ``drain()`` from its event loop (one read for every frame waiting); the
worker blocks in ``recv()``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pickle
import struct
import sys
import threading
from multiprocessing import resource_tracker, shared_memory
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


SHM_THRESHOLD = 1 << 20
PIPE_BYTES = 1 << 20  # asked for each pipe (Linux caps it at /proc/sys/fs/pipe-max-size)
_F_SETPIPE_SZ = 1031
READ_CHUNK = 1 << 18
MAX_READ = 1 << 24
_HEADER = struct.Struct("<QI")


def _rebuild_array(data: Any, dtype: str, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    import numpy as np

    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _reduce_array(array: np.ndarray[Any, Any]) -> Any:
    dtype = array.dtype
    if (
        dtype.hasobject
        or dtype.fields is not None
        or dtype.subdtype is not None
        or (
            dtype.kind in "Mm"  # datetimes export no buffer
        )
    ):
        return array.__reduce_ex__(5)  # numpy's own pickling handles these
    if not array.flags.c_contiguous:
        import numpy as np

        array = np.ascontiguousarray(array)
    return _rebuild_array, (pickle.PickleBuffer(array), dtype.str, array.shape)  # type: ignore[arg-type]


_REDUCERS: dict[type, Any] = {}


def _reducers() -> dict[type, Any]:
    """The compact array reduction, once numpy is loaded: no array can be sent before that, and
    a server that only passes serialized requests on never loads it."""
    if not _REDUCERS:
        ndarray = getattr(sys.modules.get("numpy"), "ndarray", None)
        if ndarray is not None:
            _REDUCERS[ndarray] = _reduce_array
    return _REDUCERS


def is_large(data: Any) -> bool:
    """Whether ``data`` is bytes big enough to travel through shared memory."""
    return isinstance(data, bytes | memoryview) and len(data) >= SHM_THRESHOLD


def by_shared_memory(data: Any) -> Any:
    """``data`` marked for send() to pass through shared memory when it is large bytes.

    The receiver gets a read-only memoryview of its own copy instead of bytes.
    """
    return pickle.PickleBuffer(data) if is_large(data) else data


def dumps(message: Any, buffer_callback: Any = None) -> bytes:
    """Pickle ``message`` (protocol 5) with the compact array reduction."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5, buffer_callback=buffer_callback)
    pickler.dispatch_table = _reducers()
    pickler.dump(message)
    return out.getvalue()


def channel_pair(context: Any) -> tuple[Channel, tuple[Connection, Connection]]:
    """This side's Channel, and the two pipe ends to hand the other process for its Channel.

    Two one-way pipes rather than a socket pair: a wake-up across a pipe costs less.
    """
    theirs_in, ours_out = context.Pipe(duplex=False)
    ours_in, theirs_out = context.Pipe(duplex=False)
    return Channel(ours_in, ours_out), (theirs_in, theirs_out)


class Channel:
    """A framed, thread-safe message channel over two one-way pipes (multiprocessing ends).

    >>> ours, theirs = channel_pair(multiprocessing.get_context("spawn"))  # doctest: +SKIP
    >>> ours.send(("call", 1, {"x": np.zeros(3)}))  # doctest: +SKIP
    """

    def __init__(self, reader: Connection, writer: Connection) -> None:
        self.reader = reader
        self.writer = writer
        self._in = reader.fileno()
        self._out = writer.fileno()
        for fd in (self._in, self._out):  # fewer blocked writes for mid-sized messages
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)
        self._send_lock = threading.Lock()
        self._buffer = bytearray()

    def fileno(self) -> int:
        """The descriptor to watch for incoming messages."""
        return self._in

    def send(self, message: Any) -> None:
        large: list[pickle.PickleBuffer] = []

        def out_of_band(buffer: pickle.PickleBuffer) -> bool:
            # Returning True keeps a buffer inside the pickle: cheaper for small arrays.
            if buffer.raw().nbytes < SHM_THRESHOLD:
                return True
            large.append(buffer)
            return False

        body = dumps(message, out_of_band)
        segments: list[shared_memory.SharedMemory] = []
        try:
            names = []
            for buffer in large:
                raw = buffer.raw()
                segment = shared_memory.SharedMemory(create=True, size=raw.nbytes)
                # The receiver unlinks the segment; do not let this process's tracker do it.
                resource_tracker.unregister(segment._name, "shared_memory")  # type: ignore[attr-defined]
                segments.append(segment)
                view = segment.buf
                assert view is not None
                view[: raw.nbytes] = raw
                names.append((segment.name, raw.nbytes))
            frame = pickle.dumps((body, names), protocol=5) if names else body
            with self._send_lock:
                self._write(_HEADER.pack(len(frame), len(names)) + frame)
        except BaseException:
            for segment in segments:
                segment.unlink()
            raise
        finally:
            for segment in segments:
                segment.close()

    def send_plain(self, message: Any) -> None:
        """Send a message that holds no numpy arrays (Predict trips and their answers).

        Plain pickling, none of send()'s array handling: it runs for every request.
        """
        frame = pickle.dumps(message, protocol=5)
        with self._send_lock:
            self._write(_HEADER.pack(len(frame), 0) + frame)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._out, view) :]

    def recv(self) -> Any:
        """Block for the next message; raises EOFError when the other side has gone."""
        while (message := self._next_frame()) is _NONE:
            self._fill()
        return message

    def drain(self) -> list[Any]:
        """Every message waiting, reading once; call it when the pipe is readable.

        A frame begun but not complete is finished with blocking reads (the other side writes
        a frame at once). Raises EOFError once the other side has gone and nothing is left.
        """
        self._fill()
        messages = []
        while (message := self._next_frame()) is not _NONE:
            messages.append(message)
        while self._buffer:  # the rest of a frame is on its way
            self._fill()
            while (message := self._next_frame()) is not _NONE:
                messages.append(message)
        return messages

    def _fill(self) -> None:
        """One read: returns at once on a readable pipe, else waits for the other side."""
        chunk = os.read(self._in, min(max(READ_CHUNK, self._missing()), MAX_READ))
        if not chunk:
            raise EOFError("the other end of the channel closed")
        self._buffer += chunk

    def _missing(self) -> int:
        if len(self._buffer) < _HEADER.size:
            return _HEADER.size - len(self._buffer)
        length: int = _HEADER.unpack_from(self._buffer)[0]
        return max(0, _HEADER.size + length - len(self._buffer))

    def _next_frame(self) -> Any:
        buffer = self._buffer
        if len(buffer) < _HEADER.size:
            return _NONE
        length, count = _HEADER.unpack_from(buffer)
        end = _HEADER.size + length
        if len(buffer) < end:
            return _NONE
        frame = bytes(memoryview(buffer)[_HEADER.size : end])
        del buffer[:end]
        if not count:
            return pickle.loads(frame)
        body, names = pickle.loads(frame)
        return pickle.loads(body, buffers=[_take(name, size) for name, size in names])

    @property
    def closed(self) -> bool:
        return bool(self.reader.closed)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


_NONE = object()


def _take(name: str, size: int) -> bytearray:
    """Copy a segment out (writable, owned by the receiver) and unlink it."""
    segment = shared_memory.SharedMemory(name=name)
    try:
        view = segment.buf
        assert view is not None
        return bytearray(view[:size])
    finally:
        segment.close()
        segment.unlink()
