"""The one check of model names and versions that calls give, and the names it reserves."""

from __future__ import annotations

import pytest

from loader.config import BundleConfig, model_name_problem
from registry.errors import ErrorCode
from runtime.api.health import OWN_SERVICES
from runtime.engine.models import InvalidModelNameError, check_model_ref


@pytest.mark.parametrize("name", ["iris", "iris-v2", "a", "A.b_c-1", "x" * 128])
def test_model_names_of_store_folders_are_accepted(name: str) -> None:
    check_model_ref(name, "1")


@pytest.mark.parametrize(
    ("name", "version", "words"),
    [
        ("", "", "name '' is empty"),
        ("../x", "", "is not a model name"),
        ("-x", "", "is not a model name"),
        ("x" * 129, "", "is not a model name"),
        ("a\nb", "", "is not a model name"),
        ("liveness", "", "is reserved"),
        ("inference.GRPCInferenceService", "", "is reserved"),
        ("modelrt.v1.ModelRuntime", "", "is reserved"),
        ("iris", "..", "version '..' is not a version"),
        ("iris", "1/2", "is not a version"),
    ],
)
def test_empty_malformed_and_reserved_names_are_invalid_argument(
    name: str, version: str, words: str
) -> None:
    with pytest.raises(InvalidModelNameError) as caught:
        check_model_ref(name, version)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert words in caught.value.message


def test_the_field_is_named_in_the_message() -> None:
    with pytest.raises(InvalidModelNameError, match=r"^namespace 'liveness' is reserved"):
        check_model_ref("liveness", field="namespace")


def test_no_health_service_of_the_server_can_be_a_model_name() -> None:
    assert OWN_SERVICES
    assert all(model_name_problem(service) for service in OWN_SERVICES)
    for service in OWN_SERVICES:
        with pytest.raises(ValueError, match="name"):
            BundleConfig(name=service)
