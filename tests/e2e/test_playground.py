"""The playground in a real headless chromium against a real `modelrt serve`: upload a bundle
through the page and see its card, predict on an image file and see the label, watch Generate
tokens arrive, and stream a WAV file (a picked file, and the fake microphone) into a transcript.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.bundle_factory import write_bundle, zip_folder
from tests.e2e.playground_env import tone_wav

pytestmark = pytest.mark.timeout(180)

GREETER = """
    from registry import ModelRunner, register

    @register("{name}")
    class Greeter(ModelRunner):
        def predict(self, request):
            return {{"label": "greeting", "score": 1.0, "text": "hello " + request["name"]}}
"""
CARD_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 9">'
    '<rect width="16" height="9" fill="#2a7"/></svg>'
)


def _bundle_zip(root: Path, name: str) -> Path:
    config = {
        "version": "1",
        "description": "Greets whoever it is given.",
        "model_type": "classification",
        "inputs": [{"name": "name", "kind": "text"}],
    }
    folder = write_bundle(
        root, name, GREETER.format(name=name), config=config, files={"card.svg": CARD_SVG}
    )
    return zip_folder(folder, root / f"{name}.zip")


def test_upload_a_bundle_see_its_card_and_delete_it(page: Any, tmp_path: Path) -> None:
    bundle = _bundle_zip(tmp_path, "greeter")
    page.goto("/#/upload")
    page.set_input_files("#upload-file", str(bundle))
    page.click("#upload-submit")
    status = page.locator("#upload-status")
    status.filter(has_text="greeter v1: ready").wait_for()
    assert page.locator("#upload-progress").evaluate("p => p.value") == 1

    page.click("#upload-result a.card")  # the new model's card
    model = page.locator("article.model[data-model=greeter]")
    model.wait_for()
    assert "Greets whoever it is given." in model.inner_text()
    assert page.locator("article.model .badge").inner_text().lower() == "ready"
    image = page.locator("article.model img.card-image")
    image.wait_for()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    page.fill("textarea[name=name]", "Ada")
    page.click("#run-predict")
    assert page.locator(".result-label").inner_text() == "greeting"

    page.click("article.model button.danger")  # Delete asks first
    assert page.locator("dialog#confirm").is_visible()
    page.click("#confirm-ok")
    page.wait_for_url("**/#/models")
    page.locator("#cards .card[data-model=color-classifier]").wait_for()
    assert page.locator("#cards .card[data-model=greeter]").count() == 0


def test_cards_show_every_model_with_its_facts(page: Any) -> None:
    page.goto("/")
    card = page.locator(".card[data-model=color-classifier]")
    card.wait_for()
    text = card.inner_text().lower()
    assert "ready" in text
    assert "classification" in text
    assert "onnx" in text
    assert "predict" in text
    assert page.locator(".card[data-model=tiny-llm] .tag.cap", has_text="generate").count() == 1


def test_predict_on_an_image_file_shows_the_label(page: Any, tmp_path: Path) -> None:
    picture = tmp_path / "red.png"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (220, 30, 20)).save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())
    page.goto("/#/models/color-classifier")
    page.locator(".field[data-input=image] input[type=file]").set_input_files(str(picture))
    page.locator(".field[data-input=image] .preview img").wait_for()
    page.click("#run-predict")
    label = page.locator(".result .result-label")
    label.wait_for()
    assert label.inner_text() == "red"
    assert page.locator(".result ul.bars li").count() == 3
    page.click(".result details.raw summary")  # the raw JSON, one click away
    raw = json.loads(page.locator(".result details.raw pre").inner_text())
    assert raw["structured"]["label"] == "red"


def test_generate_tokens_arrive_one_by_one(page: Any) -> None:
    page.goto("/#/models/tiny-llm")
    page.fill("textarea[name=prompt]", "the cat")
    page.fill("textarea[name=parameters]", '{"max_tokens": 12, "delay_ms": 150}')
    page.click("#run-generate")
    output = page.locator("#generate-output")
    output.wait_for()
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = output.inner_text()
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if "done" in page.locator(".generate-bar").inner_text():
            break
        time.sleep(0.03)
    final = output.inner_text()
    partial = [text for text in seen if text != final]
    assert len(partial) >= 2, seen  # the text grew while the model was still generating
    assert all(final.startswith(text) for text in seen)
    assert "12 items, done" in page.locator(".generate-bar").inner_text()


def test_stream_a_wav_file_into_a_transcript(page: Any, tmp_path: Path) -> None:
    wav = tone_wav(tmp_path / "hi-there.wav", "hi there", sample_rate=16_000, tail_s=0.0)
    page.goto("/#/models/speech-stream")
    page.locator(".field[data-input=audio] input[type=file]").set_input_files(str(wav))
    page.locator(".field[data-input=audio] .preview audio").wait_for()
    page.click("#stream-file")
    transcript = page.locator("#transcript.final")
    transcript.wait_for()
    assert transcript.inner_text() == "hi there"
    assert "stream closed" in page.locator(".stream-status").inner_text()
    page.click("#run-predict")  # the whole clip at once, as one tensor
    assert page.locator(".result .result-text").inner_text() == "hi there"


def test_stream_from_the_microphone(page: Any) -> None:
    page.goto("/#/models/speech-stream")
    page.click("#stream-mic")  # the fake microphone plays microphone.wav ("hi") on a loop
    page.locator("#transcript", has_text="hi").wait_for(timeout=30_000)
    page.click("#stream-mic")  # stop: the final transcript arrives, then the stream closes
    page.locator(".stream-status", has_text="stream closed").wait_for()
    assert "hi" in page.locator("#transcript").inner_text()


def test_upload_a_folder_zipped_in_the_browser(page: Any, tmp_path: Path) -> None:
    _bundle_zip(tmp_path, "folder-greeter")
    folder = tmp_path / "folder-greeter"  # the folder the zip was made from
    page.goto("/#/upload")
    page.set_input_files("#upload-folder", str(folder))
    page.click("#upload-submit")
    page.locator("#upload-status", has_text="folder-greeter v1: ready").wait_for()
    page.goto("/#/models/folder-greeter")
    page.fill("textarea[name=name]", "Bob")
    page.click("#run-predict")
    page.locator(".result details.raw summary").click()
    raw = json.loads(page.locator(".result details.raw pre").inner_text())
    assert raw["structured"]["text"] == "hello Bob"


def test_live_view_charts_the_traffic(page: Any, served: Any) -> None:
    pixels = {"dtype": "UINT8", "shape": [2, 2, 3], "contents": [0, 200, 0] * 4}
    page.goto("/#/live")
    chart = page.locator(".live-model[data-model=color-classifier] svg.chart").first
    chart.wait_for()
    with httpx.Client(base_url=served.url, timeout=10) as client:
        for _ in range(6):
            reply = client.post(
                "/api/v1/models/color-classifier/predict",
                json={"inputs": {"image": {"tensor": pixels}}},
            )
            assert reply.status_code == 200, reply.text
    # The view redraws on every poll: read the heading afresh each time.
    page.wait_for_function(
        """() => {
            const h = document.querySelector(".live-model[data-model=color-classifier] h3");
            const counts = h ? h.textContent.match(/(\\d+) requests/) : null;
            return counts !== null && Number(counts[1]) >= 6;
        }"""
    )
    rate = page.locator(".live-model[data-model=color-classifier] svg.chart polyline").first
    rate.wait_for()
    titles = page.locator(
        ".live-model[data-model=color-classifier] .chart-title"
    ).all_text_contents()
    assert [t.split(":")[0] for t in titles] == ["requests/s", "latency", "batch size"]


def test_api_docs_render_from_local_files(page: Any) -> None:
    page.goto("/docs")
    page.locator(".swagger-ui .opblock-summary-path", has_text="/api/v1/models").first.wait_for()
    assert "modelrt" in page.locator(".swagger-ui .title").inner_text()


def test_a_failed_model_shows_why(page: Any) -> None:
    page.goto("/")
    card = page.locator(".card[data-model=broken]")
    card.wait_for()
    assert card.locator(".badge").inner_text().lower() == "failed"
    assert "the weights are missing on purpose" in card.locator(".failed-reason").inner_text()
    card.click()
    page.locator("article.model .failed-reason", has_text="missing on purpose").wait_for()
    assert page.locator("#run-predict").count() == 0  # nothing to try until it loads


def test_tensor_and_parameters_from_the_json_editors(page: Any) -> None:
    page.goto("/#/models/summer")
    editor = page.locator(".field[data-input=x] textarea")
    editor.fill("[1, 2, 3.5")
    assert "not JSON" in page.locator(".field[data-input=x] .json-status").inner_text()
    page.click("#run-predict")
    page.locator(".output .error", has_text="not JSON").wait_for()  # refused before sending
    editor.fill("[1, 2, 3.5]")  # a nested array: its shape is read from the nesting
    assert page.locator(".field[data-input=x] .json-status").inner_text() == ""
    page.fill("textarea[name=parameters]", '{"scale": 3}')
    page.click("#run-predict")
    page.locator(".output .result").wait_for()
    shown = json.loads(page.locator(".result pre.result-json").inner_text())
    assert shown == {"sum": 6.5, "scale": 3}


def test_stop_closes_a_generation(page: Any) -> None:
    page.goto("/#/models/tiny-llm")
    page.fill("textarea[name=prompt]", "the dog")
    page.fill("textarea[name=parameters]", '{"max_tokens": 200, "delay_ms": 100}')
    page.click("#run-generate")
    bar = page.locator(".generate-bar")
    bar.filter(has_text="3 items").wait_for()
    page.click(".generate-bar button")
    bar.filter(has_text="stopped").wait_for()
    text = page.locator("#generate-output").inner_text()
    time.sleep(0.5)
    assert page.locator("#generate-output").inner_text() == text  # nothing arrives after Stop
    assert int(bar.inner_text().split()[0]) < 200


def test_a_refused_request_shows_the_servers_error(page: Any) -> None:
    page.goto("/#/models/tiny-llm")
    page.fill("textarea[name=prompt]", "the cat")
    page.fill("textarea[name=parameters]", '{"max_tokens": 0}')
    page.click("#run-predict")
    error = page.locator(".output p.error")
    error.wait_for()
    assert "max_tokens" in error.inner_text()
    assert "400" in error.inner_text()


def test_unload_and_load_a_model_from_its_card(page: Any) -> None:
    page.goto("/#/models/summer")
    page.locator("#run-predict").wait_for()
    page.click("article.model .actions button:text-is('Unload')")
    page.locator("article.model h1 .badge", has_text="unloaded").wait_for()
    assert page.locator("#run-predict").count() == 0
    page.click("article.model .actions button:text-is('Load')")
    page.locator("article.model h1 .badge", has_text="ready").wait_for()
    page.locator("#run-predict").wait_for()


def _readme_block(marker: str) -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", readme, re.S)
    return next(body for body in blocks if body.startswith(marker))


def test_the_readme_tour_bundle_uploads_and_answers(page: Any, tmp_path: Path) -> None:
    folder = tmp_path / "my-bundle"
    folder.mkdir()
    (folder / "model.py").write_text(_readme_block("# my-bundle/model.py"), encoding="utf-8")
    (folder / "modelrt.yaml").write_text(_readme_block("# my-bundle/modelrt.yaml"), "utf-8")
    page.goto("/#/upload")
    page.set_input_files("#upload-file", str(zip_folder(folder, tmp_path / "my-bundle.zip")))
    page.click("#upload-submit")
    page.locator("#upload-status", has_text="shout v1: ready").wait_for()
    page.click("#upload-result a.card")
    page.fill("textarea[name=text]", "hello world")
    page.click("#run-predict")
    assert page.locator(".result .result-text").inner_text() == "HELLO WORLD!!"
    page.click("#run-generate")
    page.locator(".generate-bar", has_text="done").wait_for()
    assert page.locator("#generate-output").inner_text() == "HELLO WORLD"


def test_a_model_without_declared_inputs_gets_a_named_input_of_any_kind(page: Any) -> None:
    page.goto("/#/models/echo")
    guessed = page.locator(".guessed")
    guessed.wait_for()
    assert guessed.locator(".input-kind").input_value() == "json"  # model_type other
    guessed.locator(".input-kind").select_option("text")
    guessed.locator(".input-name").fill("words")
    guessed.locator("textarea").fill("hi there")
    page.click("#run-predict")
    shown = json.loads(page.locator(".result pre.result-json").inner_text())
    assert shown == {"names": ["words"], "values": ["hi there"]}
