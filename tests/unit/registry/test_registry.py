"""Tests for registry.registry: collecting marked classes from real module objects."""

from __future__ import annotations

import types
from typing import Any

import pydantic
import pytest

from registry import (
    DuplicateNamespaceError,
    ErrorCode,
    ModelRunner,
    Registry,
    Request,
    outschema,
    register,
)

pytestmark = pytest.mark.timeout(10)


def module_with(name: str, **values: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    vars(module).update(values)
    return module


def runner_class(namespace: str | None, name: str = "Runner") -> type[ModelRunner]:
    def predict(self: ModelRunner, request: Request) -> Any:
        return {}

    cls = type(name, (ModelRunner,), {"predict": predict, "__module__": f"bundle_{name.lower()}"})
    return cls if namespace is None else register(namespace)(cls)


def test_empty_registry_has_no_namespaces() -> None:
    assert Registry().namespaces() == []


def test_collect_finds_marked_runners_and_schemas() -> None:
    @outschema("clf")
    class Prediction(pydantic.BaseModel):
        label: str

    clf = runner_class("clf", "Classifier")
    llm = runner_class("llm", "Generator")
    registry = Registry()

    registry.collect(module_with("model", Prediction=Prediction, Classifier=clf, Generator=llm))

    assert registry.runners == {"clf": clf, "llm": llm}
    assert registry.schemas == {"clf": Prediction}
    assert registry.namespaces() == ["clf", "llm"]


def test_collect_ignores_unmarked_classes_and_non_class_values() -> None:
    registry = Registry()
    registry.collect(
        module_with(
            "model",
            Plain=runner_class(None),
            number=5,
            text="clf",
            helper=lambda: None,
            ModelRunner=ModelRunner,
        )
    )
    assert registry.runners == {}
    assert registry.schemas == {}


def test_collect_ignores_the_mark_a_subclass_inherits() -> None:
    base = runner_class("base", "Base")
    child = type("Child", (base,), {})
    registry = Registry()

    registry.collect(module_with("model", Base=base, Child=child))

    assert registry.runners == {"base": base}


def test_collect_registers_a_subclass_marked_under_its_own_namespace() -> None:
    base = runner_class("base", "Base")
    child = register("child")(type("Child", (base,), {}))
    registry = Registry()

    registry.collect(module_with("model", Base=base, Child=child))

    assert registry.runners == {"base": base, "child": child}


def test_collect_accepts_the_same_class_imported_into_two_modules() -> None:
    runner = runner_class("echo")
    registry = Registry()

    registry.collect(module_with("model", Runner=runner))
    registry.collect(module_with("helpers", Runner=runner, Alias=runner))

    assert registry.runners == {"echo": runner}


def test_collect_refuses_two_classes_under_one_namespace_naming_both() -> None:
    first = runner_class("echo", "First")
    second = runner_class("echo", "Second")
    registry = Registry()
    registry.collect(module_with("model", First=first))

    with pytest.raises(DuplicateNamespaceError) as caught:
        registry.collect(module_with("other", Second=second))

    message = str(caught.value)
    assert "'echo'" in message
    assert "First" in message
    assert "Second" in message
    assert caught.value.code is ErrorCode.ALREADY_EXISTS
    assert caught.value.reason == "DUPLICATE_NAMESPACE"
    assert caught.value.metadata == {"namespace": "echo"}
    assert registry.runners == {"echo": first}


def test_add_schema_refuses_two_schemas_under_one_namespace() -> None:
    class A(pydantic.BaseModel):
        x: int

    class B(pydantic.BaseModel):
        x: int

    registry = Registry()
    registry.add_schema("clf", A)
    registry.add_schema("clf", A)

    with pytest.raises(DuplicateNamespaceError, match="output schema"):
        registry.add_schema("clf", B)


def test_a_runner_and_a_schema_may_share_a_namespace() -> None:
    class Out(pydantic.BaseModel):
        x: int

    runner = runner_class("clf")
    registry = Registry()
    registry.add_runner("clf", runner)
    registry.add_schema("clf", Out)

    assert registry.runners == {"clf": runner}
    assert registry.schemas == {"clf": Out}


def test_registries_share_no_state() -> None:
    first = Registry()
    first.add_runner("echo", runner_class("echo"))
    assert Registry().namespaces() == []
