"""Messages between the server and its worker processes: pickle 5, large buffers in shared memory.

Arrays inside a message travel out of band: buffers of ``SHM_THRESHOLD`` bytes or more are
copied once into a shared-memory segment that the receiver copies out of and unlinks, instead of
being serialised through the pipe; smaller ones ride along in the same frame.
"""

from __future__ import annotations

import pickle
import struct
import threading
from multiprocessing import resource_tracker, shared_memory
from multiprocessing.connection import Connection
from typing import Any

SHM_THRESHOLD = 1 << 20
_INLINE, _SHARED = 0, 1
_HEADER = struct.Struct("<I")


class Channel:
    """A framed, thread-safe message channel over a multiprocessing Connection.

    >>> parent, child = multiprocessing.Pipe()  # doctest: +SKIP
    >>> Channel(parent).send(("call", 1, {"x": np.zeros(3)}))  # doctest: +SKIP
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._send_lock = threading.Lock()

    def send(self, message: Any) -> None:
        buffers: list[pickle.PickleBuffer] = []
        body = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
        parts: list[bytes] = []
        segments: list[shared_memory.SharedMemory] = []
        try:
            for buffer in buffers:
                raw = buffer.raw()
                if raw.nbytes >= SHM_THRESHOLD:
                    segment = shared_memory.SharedMemory(create=True, size=raw.nbytes)
                    # The receiver unlinks the segment; do not let this process's tracker do it.
                    resource_tracker.unregister(segment._name, "shared_memory")  # type: ignore[attr-defined]
                    segments.append(segment)
                    view = segment.buf
                    assert view is not None
                    view[: raw.nbytes] = raw
                    name = segment.name.encode()
                    parts.append(pickle.dumps((_SHARED, name, raw.nbytes)))
                else:
                    parts.append(pickle.dumps((_INLINE, bytes(raw), raw.nbytes)))
            frame = pickle.dumps((body, parts), protocol=5)
            with self._send_lock:
                self.connection.send_bytes(frame)
        except BaseException:
            for segment in segments:
                segment.unlink()
            raise
        finally:
            for segment in segments:
                segment.close()

    def recv(self) -> Any:
        """Block for the next message; raises EOFError when the other side has gone."""
        frame = self.connection.recv_bytes()
        body, parts = pickle.loads(frame)
        buffers = [_buffer(pickle.loads(part)) for part in parts]
        return pickle.loads(body, buffers=buffers)

    def close(self) -> None:
        self.connection.close()


def _buffer(part: tuple[int, bytes, int]) -> bytearray | bytes:
    kind, payload, size = part
    if kind == _INLINE:
        return bytearray(payload)
    segment = shared_memory.SharedMemory(name=payload.decode())
    try:
        view = segment.buf
        assert view is not None
        return bytearray(view[:size])
    finally:
        segment.close()
        segment.unlink()
