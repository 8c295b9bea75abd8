"""The playground on a server with tokens: nothing shows without one, the token typed into the
page reaches every call (headers, the card picture's and the WebSocket's ?token=), and the
inference token cannot upload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.playground_env import Served, build_store, serve, tone_wav

pytestmark = pytest.mark.timeout(180)
INFERENCE = "infer-secret-1"
ADMIN = "admin-secret-2"


@pytest.fixture(scope="module")
def served(workdir: Path) -> Iterator[Served]:
    """speech-stream on a server that wants tokens (overrides conftest's open server)."""
    store = build_store(workdir / "auth-store", ("speech-stream",))
    env = {"MODELRT_INFERENCE_TOKEN": INFERENCE, "MODELRT_ADMIN_TOKEN": ADMIN}
    with serve(store, workdir, env) as running:
        yield running


def test_the_token_typed_into_the_page_reaches_every_call(page: Any, tmp_path: Path) -> None:
    page.goto("/")
    refused = page.locator("#cards p.error")
    refused.wait_for()
    assert "401" in refused.inner_text()

    page.fill("#token", INFERENCE)
    page.locator("#token").dispatch_event("change")
    card = page.locator("#cards .card[data-model=speech-stream]")
    card.wait_for()
    image = card.locator("img.card-image").element_handle()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)

    wav = tone_wav(tmp_path / "ok.wav", "ok", sample_rate=16_000, tail_s=0.0)
    page.goto("/#/models/speech-stream")  # the token stays in the page's local storage
    page.locator(".field[data-input=audio] input[type=file]").set_input_files(str(wav))
    page.click("#stream-file")
    page.locator("#transcript.final", has_text="ok").wait_for()

    page.goto("/#/upload")
    page.set_input_files("#upload-file", str(wav))  # refused before the bundle is even read
    page.click("#upload-submit")
    status = page.locator("#upload-status.error")
    status.wait_for()
    assert "needs the admin token" in status.inner_text()
    assert "403 ADMIN_TOKEN_REQUIRED" in status.inner_text()
