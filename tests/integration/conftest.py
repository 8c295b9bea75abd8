"""A real modelrt server on 127.0.0.1, port 0, in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelrt.v1 import runtime_pb2_grpc
from runtime.loops import new_event_loop
from runtime.server import ModelServer
from runtime.settings import ServerSettings


@dataclass
class RunningServer:
    """A started server; ``address`` is host:port, ``stub`` a ModelRuntime stub on a channel."""

    address: str
    store: Path
    server: ModelServer
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    channels: list[grpc.Channel] = field(default_factory=list)

    def channel(self) -> grpc.Channel:
        limit = 256 * 1024 * 1024  # the server's default, not grpc's 4 MiB
        options = [
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ]
        channel = grpc.insecure_channel(self.address, options=options)
        self.channels.append(channel)
        return channel

    def stub(self) -> runtime_pb2_grpc.ModelRuntimeStub:
        return runtime_pb2_grpc.ModelRuntimeStub(self.channel())

    def health(self) -> health_pb2_grpc.HealthStub:
        return health_pb2_grpc.HealthStub(self.channel())

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until health service "" answers SERVING (start-up loading finished)."""
        health = self.health()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server at {self.address} not ready after {timeout}s")

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's loop (e.g. to inspect or stop it)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, grace: float = 1.0) -> None:
        for channel in self.channels:
            channel.close()
        if self.thread.is_alive():
            self.run(self.server.stop(grace), timeout=grace + 30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start servers on port 0; every one is stopped at teardown.

    ``start_server(store=None, wait=True, **settings)``: ``store`` defaults to an empty folder,
    ``settings`` are ServerSettings fields (e.g. ``strict_requirements=True``).
    """
    started: list[RunningServer] = []

    def start(store: Path | None = None, wait: bool = True, **settings: Any) -> RunningServer:
        store = store or tmp_path / f"store{len(started)}"
        store.mkdir(parents=True, exist_ok=True)
        settings.setdefault("metrics_port", 0)
        settings.setdefault("http_port", "auto")
        config = ServerSettings(model_store=store, host="127.0.0.1", port=0, **settings)
        loop = new_event_loop(config.event_loop)  # the loop `modelrt serve` runs on
        server = ModelServer(config)
        ready = threading.Event()
        box: dict[str, Any] = {}

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                box["port"] = loop.run_until_complete(server.start())
            except BaseException as exc:  # surfaced to the test below
                box["error"] = exc
            finally:
                ready.set()
            if "error" not in box:
                loop.run_forever()
            loop.close()

        thread = threading.Thread(target=serve, name="modelrt-test-server", daemon=True)
        thread.start()
        if not ready.wait(60):
            raise TimeoutError("server did not start")
        if "error" in box:
            raise box["error"]
        running = RunningServer(f"127.0.0.1:{box['port']}", store, server, loop, thread)
        started.append(running)
        if wait:
            running.wait_ready()
        return running

    yield start
    for running in reversed(started):
        running.stop()
