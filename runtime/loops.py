"""The event loop the server runs on: uvloop when it is installed, else asyncio's own.

The server's one event loop carries every call's gRPC and scheduling work, and uvloop runs the
loop's part of it (callbacks, timers, pipe readers) in C. ``event_loop`` picks: ``auto`` (uvloop
when importable), ``uvloop`` (required: fails without it) or ``asyncio``.

>>> type(new_event_loop("asyncio")).__module__.startswith("asyncio")
True
"""

from __future__ import annotations

import asyncio
from typing import Literal

LoopChoice = Literal["auto", "uvloop", "asyncio"]


def new_event_loop(choice: LoopChoice = "auto") -> asyncio.AbstractEventLoop:
    """A new event loop of the kind ``choice`` asks for (see the module docstring)."""
    if choice == "asyncio":
        return asyncio.new_event_loop()
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise RuntimeError(
                "event_loop 'uvloop' needs the uvloop package (pip install uvloop); "
                "or set event_loop to 'auto' or 'asyncio'"
            ) from None
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
