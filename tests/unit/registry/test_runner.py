"""Tests for registry.runner: Request lookups, hook discovery and capabilities."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry import (
    ErrorCode,
    HookNotImplementedError,
    InvalidInputError,
    ModelContext,
    ModelRunner,
    Request,
)
from registry.runner import capabilities, implemented_hooks

pytestmark = pytest.mark.timeout(10)


class PredictOnly(ModelRunner):
    def predict(self, request: Request) -> Any:
        return {}


class BatchOnly(ModelRunner):
    def predict_batch(self, requests: list[Request]) -> list[Any]:
        return [{} for _ in requests]


class Talker(ModelRunner):
    def generate(self, request: Request) -> Iterator[Any]:
        yield {}

    def stream(self, requests: Any) -> Iterator[Any]:
        yield from requests


class Everything(Talker, PredictOnly, BatchOnly):
    pass


def test_request_item_returns_the_input() -> None:
    assert Request(inputs={"text": "hi"})["text"] == "hi"


def test_request_item_names_a_missing_input_and_the_inputs_sent() -> None:
    request = Request(inputs={"b": 1, "a": 2})

    with pytest.raises(InvalidInputError) as caught:
        request["image"]

    assert str(caught.value) == "missing input 'image' (inputs sent: a, b)"
    assert caught.value.metadata == {"input": "image"}
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT


def test_request_item_on_an_empty_request_says_none_were_sent() -> None:
    with pytest.raises(InvalidInputError, match=r"missing input 'text' \(inputs sent: none\)"):
        Request()["text"]


def test_request_get_returns_default_for_a_missing_input() -> None:
    request = Request(inputs={"text": "hi"})
    assert request.get("text") == "hi"
    assert request.get("other") is None
    assert request.get("other", "x") == "x"


def test_request_param_returns_the_parameter_or_the_default() -> None:
    request = Request(parameters={"temperature": 0.5, "flag": None})
    assert request.param("temperature") == 0.5
    assert request.param("flag", True) is None
    assert request.param("max_tokens", 32) == 32
    assert request.param("max_tokens", None) is None


def test_request_param_without_default_names_the_missing_parameter() -> None:
    with pytest.raises(InvalidInputError, match="missing parameter 'seed'") as caught:
        Request(parameters={"temperature": 0.5}).param("seed")
    assert caught.value.metadata == {"parameter": "seed"}


def test_model_context_path_is_inside_the_bundle(tmp_path: Path) -> None:
    context = ModelContext(name="m", version="1", bundle_dir=tmp_path)
    assert context.path("weights/model.onnx") == tmp_path / "weights" / "model.onnx"
    assert context.device == "cpu"


@pytest.mark.parametrize(
    ("cls", "hooks"),
    [
        (ModelRunner, set()),
        (PredictOnly, {"predict"}),
        (BatchOnly, {"predict_batch"}),
        (Talker, {"generate", "stream"}),
        (Everything, {"predict", "predict_batch", "generate", "stream"}),
    ],
)
def test_implemented_hooks_lists_overridden_hooks_including_inherited_ones(
    cls: type[ModelRunner], hooks: set[str]
) -> None:
    assert implemented_hooks(cls) == frozenset(hooks)


@pytest.mark.parametrize(
    ("cls", "caps"),
    [
        (ModelRunner, ()),
        (PredictOnly, ("predict",)),
        (BatchOnly, ("predict",)),
        (Talker, ("generate", "stream")),
        (Everything, ("predict", "generate", "stream")),
    ],
)
def test_capabilities_maps_hooks_to_rpcs(cls: type[ModelRunner], caps: tuple[str, ...]) -> None:
    assert capabilities(cls) == caps


@pytest.mark.parametrize("hook", ["predict", "predict_batch", "generate", "stream"])
def test_base_hooks_raise_hook_not_implemented(tmp_path: Path, hook: str) -> None:
    runner = ModelRunner(ModelContext(name="m", version="1", bundle_dir=tmp_path))
    with pytest.raises(HookNotImplementedError, match=f"ModelRunner does not implement {hook}"):
        getattr(runner, hook)(Request())
