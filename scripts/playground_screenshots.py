"""Writes docs/images/playground-*.png: the playground in Debian's headless chromium against a
real `modelrt serve` holding every example bundle (weights built into a temporary store).

    PYTHONPATH=. .venv/bin/python scripts/playground_screenshots.py [docs/images]

The pictures: the model cards, Try it with a detector's boxes on a picture, a segmenter's mask,
Generate part-way through, a Stream's transcript of a WAV file, and the live view while a little
traffic runs.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from tests.e2e.playground_env import EXAMPLES, build_store, chromium, serve, tone_wav

EVERY_EXAMPLE = tuple(sorted(p.name for p in EXAMPLES.iterdir() if (p / "model.py").exists()))
EVERY_EXAMPLE += ("language-id",)  # a Clarifai-style folder: its model.py sits in 1/


def blocks_png(path: Path) -> Path:
    """The block-detector README's picture: a red and a blue block on dark grey, scaled up."""
    image = np.full((48, 64, 3), 20, np.uint8)
    image[8:20, 6:30] = [230, 30, 30]
    image[28:44, 40:60] = [20, 40, 220]
    Image.fromarray(image).save(path)
    return path


def bright_png(path: Path) -> Path:
    """Two bright shapes and a thin bright line (which the segmenter drops) on a dark gradient."""
    y, x = np.mgrid[0:90, 0:120]
    image = np.stack([x, y, 60 + 0 * x], axis=-1).astype(np.uint8)
    image[15:45, 20:60] = 240
    image[(x - 88) ** 2 + (y - 60) ** 2 < 18**2] = [250, 240, 200]
    image[75, 5:115] = 255
    Image.fromarray(image).save(path)
    return path


def traffic(url: str, stop: threading.Event) -> None:
    """A few predictions a second on two models, so the live view has something to draw."""
    pixels = {"dtype": "UINT8", "shape": [4, 4, 3], "contents": [200, 20, 20] * 16}
    with httpx.Client(base_url=url, timeout=10) as client:
        i = 0
        while not stop.is_set():
            text = {"inputs": {"text": "a great day"}}
            client.post("/api/v1/models/sentiment/predict", json=text)
            if i % 2 == 0:
                body = {"inputs": {"image": {"tensor": pixels}}}
                client.post("/api/v1/models/color-classifier/predict", json=body)
            i += 1
            time.sleep(0.05 + 0.25 * (1 + np.sin(i / 15)))


def shoot(page: Any, out: Path, workdir: Path, url: str) -> list[Path]:
    shots: list[Path] = []

    def save(name: str, full_page: bool = False) -> None:
        path = out / f"playground-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        shots.append(path)

    page.goto("/")
    page.locator(".card[data-model=tiny-llm]").wait_for()
    page.wait_for_function("[...document.images].every(i => i.complete)")
    save("cards")

    page.goto("/#/models/block-detector")
    page.locator(".field[data-input=image] input[type=file]").set_input_files(
        str(blocks_png(workdir / "blocks.png"))
    )
    page.locator(".preview img").wait_for()
    page.click("#run-predict")
    page.locator(".result canvas").wait_for()
    save("try-it", full_page=True)

    page.goto("/#/models/bright-segmenter")
    page.locator(".field[data-input=image] input[type=file]").set_input_files(
        str(bright_png(workdir / "bright.png"))
    )
    page.locator(".preview img").wait_for()
    page.click("#run-predict")
    page.locator(".result canvas").wait_for(timeout=60_000)
    page.locator(".output").scroll_into_view_if_needed()
    save("segmenter")

    page.goto("/#/models/tiny-llm")
    page.fill("textarea[name=prompt]", "the children")
    page.fill("textarea[name=parameters]", '{"max_tokens": 60, "delay_ms": 60}')
    page.click("#run-generate")
    page.wait_for_function(
        "(document.getElementById('generate-output')?.textContent || '').split(' ').length > 18"
    )
    page.locator(".output").scroll_into_view_if_needed()
    save("generate")

    page.goto("/#/models/speech-stream")
    wav = tone_wav(workdir / "hello.wav", "hello world", sample_rate=16_000, tail_s=0.0)
    page.locator(".field[data-input=audio] input[type=file]").set_input_files(str(wav))
    page.locator(".preview audio").wait_for()
    page.click("#stream-file")
    page.locator("#transcript.final").wait_for()
    page.locator(".output").scroll_into_view_if_needed()
    save("stream")

    stop = threading.Event()
    worker = threading.Thread(target=traffic, args=(url, stop), daemon=True)
    worker.start()
    try:
        page.goto("/#/live")
        time.sleep(40)
        save("live")
    finally:
        stop.set()
        worker.join(15)
    return shots


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "docs/images").resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="playground-shots-") as tmp:
        workdir = Path(tmp)
        store = build_store(workdir / "store", EVERY_EXAMPLE)
        with serve(store, workdir) as served, chromium() as browser:
            context = browser.new_context(
                base_url=served.url, viewport={"width": 1280, "height": 800}, device_scale_factor=1
            )
            context.set_default_timeout(30_000)
            for path in shoot(context.new_page(), out, workdir, served.url):
                print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
