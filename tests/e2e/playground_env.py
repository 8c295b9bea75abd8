"""What the playground's browser tests and screenshot script share: a store of example bundles, a
real `modelrt serve` on it with HTTP on a free port, and Debian's chromium under Playwright."""

from __future__ import annotations

import os
import runpy
import shutil
import time
import wave
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.serve_process import start_serve, stop

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a headless chromium that never reaches the network; the fake media flags make
#: getUserMedia answer at once with the WAV file given as the microphone.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
#: The examples the tests use: a pixel-tensor classifier, a token generator, a streaming one.
STORE_EXAMPLES = ("color-classifier", "tiny-llm", "speech-stream")


def build_store(store: Path, examples: tuple[str, ...] = STORE_EXAMPLES) -> Path:
    """Copy ``examples`` into ``store`` and build their weights there."""
    store.mkdir(parents=True, exist_ok=True)
    for name in examples:
        target = store / name
        shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__"))
        script = target / "build_weights.py"
        if script.exists():
            runpy.run_path(str(script), run_name=f"build_{name}")["build"]()
    return store


def tone_wav(path: Path, text: str, sample_rate: int = 48_000, tail_s: float = 0.6) -> Path:
    """A 16-bit mono WAV of ``text`` in speech-stream's tone alphabet, then ``tail_s`` of silence
    (so a looping fake microphone puts a space between repeats)."""
    tones = runpy.run_path(str(EXAMPLES / "speech-stream" / "tones.py"))
    audio = tones["synthesize"](text, sample_rate=sample_rate, gap_seconds=0.2)
    audio = np.concatenate([audio, np.zeros(round(tail_s * sample_rate), np.float32)])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@dataclass
class Served:
    """A running `modelrt serve`: its gRPC address and the playground's base URL."""

    address: str
    url: str


@contextmanager
def serve(store: Path, workdir: Path, env: Mapping[str, str] | None = None) -> Iterator[Served]:
    """`modelrt serve` on ``store`` with HTTP on a free port, stopped on exit; ``env``: settings
    to add to this process's environment (``MODELRT_INFERENCE_TOKEN``...)."""
    port_file = workdir / "http.port"
    process, address = start_serve(
        store,
        workdir,
        "--http-port",
        "auto",
        "--http-port-file",
        str(port_file),
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError("modelrt serve wrote no HTTP port")
            time.sleep(0.05)
        yield Served(address, f"http://127.0.0.1:{port_file.read_text().strip()}")
    finally:
        stop(process)


@contextmanager
def chromium(extra_args: list[str] | None = None) -> Iterator[Any]:
    """Debian's chromium, headless, under Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *(extra_args or [])]
        )
        try:
            yield browser
        finally:
            browser.close()
