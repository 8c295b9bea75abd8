"""Tests for runtime.loops: which event loop the server runs on."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from runtime.loops import new_event_loop
from runtime.settings import ServerSettings

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(("choice", "kind"), [("auto", uvloop.Loop), ("uvloop", uvloop.Loop)])
def test_uvloop_runs_the_server_when_installed(choice, kind) -> None:
    loop = new_event_loop(choice)
    try:
        assert isinstance(loop, kind)
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()


def test_asyncio_is_used_when_asked_for_or_when_uvloop_is_missing(monkeypatch) -> None:
    loops = [new_event_loop("asyncio")]
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    loops.append(new_event_loop("auto"))
    try:
        assert not any(isinstance(loop, uvloop.Loop) for loop in loops)
    finally:
        for loop in loops:
            loop.close()
    with pytest.raises(RuntimeError, match="event_loop 'uvloop' needs the uvloop package"):
        new_event_loop("uvloop")


def test_the_setting_defaults_to_auto_and_refuses_other_loops(tmp_path) -> None:
    assert ServerSettings(model_store=tmp_path).event_loop == "auto"
    with pytest.raises(ValueError, match="event_loop"):
        ServerSettings(model_store=tmp_path, event_loop="trio")
