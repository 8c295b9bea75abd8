"""What crosses between the engine and an instance for Predict: serialized bytes, never messages.

The engine, the scheduler and the executor interface pass these around without decoding them,
so they stay free of protobuf; decoding and encoding live in runtime/instances/wire.py, on the
instance side. Kept apart from wire.py so that importing the types imports no transport.

>>> request: WireRequest = (b"...", "r1")
"""

from __future__ import annotations

from runtime.instances.outputs import ItemFailure

#: Serialized protobuf: bytes, or a memoryview when it crossed through shared memory.
Encoded = bytes | memoryview
#: What an instance answers one Predict request with: the encoded response fields, or a failure.
Answer = Encoded | ItemFailure
#: A PredictRequest as it arrived (serialized), and the request id the server gave it. A plain
#: tuple rather than a class: every Predict trip pickles these, and tuples pickle ~10x faster.
WireRequest = tuple[Encoded, str]
