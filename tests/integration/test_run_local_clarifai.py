"""``modelrt run-local`` on Clarifai folders: the sample follows each method's signature, not
the model type, and a failure points at the log this command prints (there is no server)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clarifai_factory import write_clarifai

pytestmark = pytest.mark.timeout(120)
MODELRT = Path(sys.executable).parent / "modelrt"

#: A text classifier (its type says classification, whose usual sample is an image).
TEXT_CLASSIFIER = """
    from typing import Iterator

    from clarifai.runners.models.model_class import ModelClass
    from clarifai.runners.utils.data_types import Concept, Image, Stream, Text
    from clarifai.runners.utils.data_utils import Param


    class Sentiment(ModelClass):
        @ModelClass.method
        def predict(self, text: Text, top_k: int = Param(default=2)) -> list[Concept]:
            score = 1.0 if "cat" in text.text else 0.0
            return [Concept("positive", score), Concept("negative", 1 - score)][:top_k]

        @ModelClass.method
        def generate(self, words: list[str]) -> Iterator[str]:
            yield from words

        @ModelClass.method
        def stream(self, frames: Stream[Image], label: str) -> Iterator[str]:
            for frame in frames:
                yield f"{label}:{frame.to_pil().size}"
"""

#: A proto-style text classifier: its config's model type says it takes text.
PROTO_TEXT_CLASSIFIER = """
    from clarifai_grpc.grpc.api import service_pb2
    from clarifai_grpc.grpc.api.status import status_code_pb2
    from clarifai.runners.models.model_runner import ModelRunner


    class Spam(ModelRunner):
        def predict(self, request):
            response = service_pb2.MultiOutputResponse()
            output = response.outputs.add()
            text = request.inputs[0].data.text.raw
            output.data.concepts.add(id="spam", name="spam", value=float(text.count("a")))
            output.status.code = status_code_pb2.SUCCESS
            return response
"""

FAILING = """
    from clarifai.runners.models.model_class import ModelClass


    class Broken(ModelClass):
        @ModelClass.method
        def predict(self, text: str) -> str:
            raise ValueError("boom in predict")
"""


def run_local(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MODELRT), "run-local", str(path), "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=110,
    )


def test_text_classifier_gets_text_and_each_method_its_own_arguments(tmp_path: Path) -> None:
    folder = write_clarifai(tmp_path, "sentiment", TEXT_CLASSIFIER, model_type_id="text-classifier")
    done = run_local(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  inputs" in done.stdout
    assert "text='the cat'" in done.stdout
    (predicted,) = [line for line in done.stdout.splitlines() if line.startswith("PASS  predict")]
    first = predicted.partition("}")[0]  # key order in the summary may vary
    assert '"positive"' in first  # "the cat" reached the Text argument
    assert '"value": 1' in first
    assert "PASS  generate" in done.stdout
    assert "the cat:(48, 32)" in done.stdout  # images to the streamed argument


def test_proto_style_text_classifier_gets_text_from_its_model_type(tmp_path: Path) -> None:
    folder = write_clarifai(
        tmp_path, "spam", PROTO_TEXT_CLASSIFIER, model_type_id="text-classifier"
    )
    done = run_local(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "text='the cat'" in done.stdout
    assert re.search(r'"value": 1\b', done.stdout)  # one "a" in "the cat"


def test_a_failure_points_at_this_commands_log_not_a_server(tmp_path: Path) -> None:
    folder = write_clarifai(tmp_path, "broken", FAILING)
    done = run_local(folder)
    assert done.returncode == 1
    assert "FAIL  predict: INTERNAL: model 'broken' raised ValueError" in done.stdout
    assert "server log" not in done.stdout + done.stderr
    assert "its traceback is in the worker's log above (stderr)" in done.stdout
    assert "boom in predict" in done.stderr
