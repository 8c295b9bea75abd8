"""Tests for registry.decorators: @register and @outschema validate at import time and only mark."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pydantic
import pydantic.v1
import pytest

from registry import (
    ErrorCode,
    ModelRunner,
    RegistrationError,
    Registry,
    Request,
    outschema,
    register,
)
from registry.decorators import RUNNER_MARK, SCHEMA_MARK

pytestmark = pytest.mark.timeout(10)


def registered(module_classes: dict[str, type]) -> Registry:
    """A Registry filled from a real module object holding ``module_classes``."""
    module = types.ModuleType("decorated_module")
    vars(module).update(module_classes)
    registry = Registry()
    registry.collect(module)
    return registry


def test_register_marks_a_runner_so_registry_finds_it_under_its_namespace() -> None:
    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request: Request) -> Any:
            return {"text": request["text"]}

    assert registered({"Echo": Echo}).runners == {"echo": Echo}


def test_register_returns_the_same_class_unchanged_apart_from_the_mark() -> None:
    class Echo(ModelRunner):
        def predict(self, request: Request) -> Any:
            return request.inputs

    before = dict(vars(Echo))
    result = register("echo")(Echo)

    assert result is Echo
    after = dict(vars(Echo))
    added = {key: value for key, value in after.items() if key not in before}
    assert added == {RUNNER_MARK: "echo"}
    assert all(after[key] is value for key, value in before.items())


def test_register_rejects_a_class_that_does_not_subclass_model_runner() -> None:
    class NotARunner:
        def predict(self, request: Request) -> Any:
            return None

    with pytest.raises(RegistrationError, match=r"NotARunner must be a class that subclasses"):
        register("x")(NotARunner)


def test_register_rejects_something_that_is_not_a_class() -> None:
    def predict(request: Request) -> Any:
        return None

    with pytest.raises(RegistrationError, match=r"subclasses registry\.ModelRunner"):
        register("x")(predict)  # type: ignore[type-var]


def test_register_rejects_a_runner_without_any_inference_hook() -> None:
    class Lazy(ModelRunner):
        def load_model(self) -> None:
            pass

    with pytest.raises(RegistrationError, match="implements none of") as caught:
        register("lazy")(Lazy)
    assert caught.value.metadata == {"class": Lazy.__qualname__}
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT


def _runner_with(hook: str, function: Any) -> type[ModelRunner]:
    return type("Bad", (ModelRunner,), {hook: function})


@pytest.mark.parametrize("hook", ["predict", "predict_batch", "generate", "stream"])
def test_register_rejects_a_hook_without_its_argument(hook: str) -> None:
    def no_argument(self: Any) -> Any:
        return None

    with pytest.raises(RegistrationError, match=rf"Bad\.{hook} must take exactly 1 argument") as c:
        register("bad")(_runner_with(hook, no_argument))
    assert c.value.metadata == {"class": "Bad", "hook": hook}


@pytest.mark.parametrize("hook", ["predict", "predict_batch", "generate", "stream"])
def test_register_rejects_a_hook_with_two_required_arguments(hook: str) -> None:
    def two_arguments(self: Any, first: Any, second: Any) -> Any:
        return None

    with pytest.raises(RegistrationError, match=rf"{hook} must take exactly 1 argument"):
        register("bad")(_runner_with(hook, two_arguments))


def test_register_rejects_a_hook_taking_only_star_args() -> None:
    def star_args(self: Any, *args: Any) -> Any:
        return None

    with pytest.raises(RegistrationError, match=r"predict must take exactly 1 argument"):
        register("bad")(_runner_with("predict", star_args))


def test_register_accepts_extra_arguments_that_have_defaults() -> None:
    def with_default(self: Any, request: Any, verbose: bool = False) -> Any:
        return None

    runner = _runner_with("predict", with_default)
    assert register("ok")(runner) is runner


def test_register_rejects_a_hook_with_a_required_keyword_only_argument() -> None:
    def keyword_only(self: Any, request: Any, *, extra: Any) -> Any:
        return None

    with pytest.raises(RegistrationError, match="predict"):
        register("bad")(_runner_with("predict", keyword_only))


def test_register_rejects_a_hook_that_is_not_callable() -> None:
    with pytest.raises(RegistrationError, match=r"Bad\.predict must be a method"):
        register("bad")(_runner_with("predict", 5))


def test_register_rejects_load_model_that_takes_an_argument() -> None:
    class NeedsPath(ModelRunner):
        def load_model(self, path: str) -> None:  # type: ignore[override]
            pass

        def predict(self, request: Request) -> Any:
            return None

    with pytest.raises(RegistrationError, match=r"NeedsPath\.load_model must take no argument"):
        register("needs-path")(NeedsPath)


@pytest.mark.parametrize("hook", ["generate", "stream"])
def test_register_rejects_async_def_generate_or_stream_without_yield(hook: str) -> None:
    async def returns(self: Any, request: Any) -> Any:
        return [request]

    with pytest.raises(RegistrationError, match=rf"{hook} is 'async def' without 'yield'") as c:
        register("bad")(_runner_with(hook, returns))
    assert c.value.metadata == {"class": "Bad", "hook": hook}


def test_register_accepts_async_generator_generate_and_stream() -> None:
    @register("tokens")
    class Tokens(ModelRunner):
        async def generate(self, request: Request) -> AsyncIterator[Any]:
            yield {"token": "a"}

        async def stream(self, requests: Any) -> AsyncIterator[Any]:
            async for request in requests:
                yield request.inputs

    assert registered({"Tokens": Tokens}).runners == {"tokens": Tokens}


def test_register_accepts_async_predict_async_load_and_plain_generators() -> None:
    @register("mixed")
    class Mixed(ModelRunner):
        async def load_model(self) -> None:
            pass

        async def predict(self, request: Request) -> Any:
            return {}

        def generate(self, request: Request) -> Iterator[Any]:
            yield {"token": "a"}

    assert registered({"Mixed": Mixed}).runners == {"mixed": Mixed}


@pytest.mark.parametrize(
    "namespace",
    ["", " ", "has space", "a" * 129, "-leading", "trailing-", "slash/ns", "é", 5, None],
)
def test_register_rejects_invalid_namespaces(namespace: Any) -> None:
    with pytest.raises(RegistrationError, match="invalid namespace"):
        register(namespace)


def test_register_rejects_a_namespace_with_a_trailing_newline() -> None:
    with pytest.raises(RegistrationError, match="invalid namespace"):
        register("abc\n")


@pytest.mark.parametrize("namespace", ["a", "A1", "acme.classifier_v2-b", "a" * 128, "7"])
def test_register_accepts_valid_namespaces(namespace: str) -> None:
    @register(namespace)
    class Ok(ModelRunner):
        def predict(self, request: Request) -> Any:
            return None

    assert registered({"Ok": Ok}).namespaces() == [namespace]


def test_outschema_marks_a_pydantic_model_and_returns_it_unchanged() -> None:
    class Prediction(pydantic.BaseModel):
        label: str

    before = dict(vars(Prediction))
    result = outschema("clf")(Prediction)

    assert result is Prediction
    added = {key: value for key, value in vars(Prediction).items() if key not in before}
    assert added == {SCHEMA_MARK: "clf"}
    assert registered({"Prediction": Prediction}).schemas == {"clf": Prediction}


def test_outschema_accepts_a_pydantic_v1_model() -> None:
    @outschema("legacy")
    class Legacy(pydantic.v1.BaseModel):
        score: float

    assert registered({"Legacy": Legacy}).schemas == {"legacy": Legacy}


@pytest.mark.parametrize("target", [dict, int, "Prediction"])
def test_outschema_rejects_what_is_not_a_pydantic_model(target: Any) -> None:
    with pytest.raises(RegistrationError, match="an output schema must be a pydantic model"):
        outschema("clf")(target)


def test_outschema_rejects_a_plain_class_naming_it() -> None:
    class Plain:
        label: str = ""

    with pytest.raises(RegistrationError, match=r"@outschema\('clf'\) on .*Plain") as caught:
        outschema("clf")(Plain)
    assert caught.value.metadata == {"class": Plain.__qualname__}


def test_outschema_rejects_an_invalid_namespace() -> None:
    with pytest.raises(RegistrationError, match="@outschema: invalid namespace"):
        outschema("bad name")
