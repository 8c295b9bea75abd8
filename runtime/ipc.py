"""Messages between the server and its worker processes: pickle 5, large buffers in shared memory.

Arrays of ``SHM_THRESHOLD`` bytes or more travel out of band: copied once into a shared-memory
segment that the receiver copies out of and unlinks, instead of going through the pipe. Smaller
ones stay inside the pickle, which is cheaper.
"""

from __future__ import annotations

import pickle
import struct
import threading
from multiprocessing import resource_tracker, shared_memory
from multiprocessing.connection import Connection
from typing import Any

SHM_THRESHOLD = 1 << 20
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
        large: list[pickle.PickleBuffer] = []

        def out_of_band(buffer: pickle.PickleBuffer) -> bool:
            # Returning True keeps a buffer inside the pickle: cheaper for small arrays.
            if buffer.raw().nbytes < SHM_THRESHOLD:
                return True
            large.append(buffer)
            return False

        body = pickle.dumps(message, protocol=5, buffer_callback=out_of_band)
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
                self.connection.send_bytes(_HEADER.pack(len(names)) + frame)
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
        (count,) = _HEADER.unpack_from(frame)
        if not count:
            return pickle.loads(memoryview(frame)[_HEADER.size :])
        body, names = pickle.loads(memoryview(frame)[_HEADER.size :])
        return pickle.loads(body, buffers=[_take(name, size) for name, size in names])

    def close(self) -> None:
        self.connection.close()


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
