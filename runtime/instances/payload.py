"""What crosses between the engine and an instance: serialized bytes, never messages.

Predict, Generate and Stream requests all reach the instance in this one form (the request
message as it arrived, and the request id the server gave it); the instance decodes them and
checks them against the bundle's declared inputs in one place, runtime/instances/wire.py. The
engine, the scheduler and the executor interface pass them around without decoding them, so they
stay free of protobuf. Kept apart from wire.py so that importing the types imports no transport.

>>> request: WireRequest = (b"...", "r1")
"""

from __future__ import annotations

from registry.errors import ModelrtError
from runtime.instances.outputs import ItemFailure

#: Serialized protobuf: bytes, or a memoryview when it crossed through shared memory.
Encoded = bytes | memoryview
#: What an instance answers one Predict request with: the encoded response fields, or a failure.
Answer = Encoded | ItemFailure
#: A request message as it arrived (serialized), and the request id the server gave it. The three
#: request messages (Predict, Generate, Stream) share their input fields, so one decoder reads
#: them all. A plain tuple rather than a class: every Predict trip pickles these, and tuples
#: pickle ~10x faster.
WireRequest = tuple[Encoded, str]
#: One message of a Stream call: the request as it arrived, or the front door's refusal of it
#: (a message naming another model, say), which the instance answers in its place.
StreamInput = WireRequest | ModelrtError
