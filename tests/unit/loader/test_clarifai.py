"""Tests for loader.clarifai: config validation, detection, checkpoints, methods and conversions."""

from __future__ import annotations

import importlib.util
import io
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
from google.protobuf import json_format
from PIL import Image as PILImage

from loader.bundle import import_bundle, prepare_bundle
from loader.clarifai.arguments import argument_value, call_arguments, convert, streamed_items
from loader.clarifai.checkpoints import shipped_checkpoints
from loader.clarifai.config import bundle_config, parse_clarifai_config
from loader.clarifai.layout import clarifai_layout
from loader.clarifai.proto_style import proto_hooks
from loader.clarifai.protos import ModelAnswerError, ModelIdentity, ProtoCodec
from loader.clarifai.results import to_output
from loader.clarifai.sdk.runners.models.model_class import ModelClass
from loader.clarifai.sdk.runners.utils.data_types import Concept, Image, Region, Text
from loader.clarifai.sdk.runners.utils.data_utils import Param
from loader.clarifai.signatures import choose, method_spec, method_specs
from loader.errors import BundleError
from loader.unpack import UnpackLimits
from registry.errors import InvalidInputError
from registry.runner import ModelContext, Request
from tests.bundle_factory import write_bundle
from tests.clarifai_factory import clarifai_config, write_clarifai

pytestmark = pytest.mark.timeout(20)
STAND_IN = pytest.mark.skipif(
    importlib.util.find_spec("clarifai") is not None, reason="the real clarifai SDK is installed"
)

ECHO = """
    from clarifai.runners.models.model_class import ModelClass

    class Echo(ModelClass):
        @ModelClass.method
        def predict(self, text: str) -> str:
            return text
"""


def _png(width: int = 3, height: int = 2) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


# -- config.yaml -------------------------------------------------------------------------------


def test_config_names_a_missing_model_id() -> None:
    with pytest.raises(BundleError, match=r"config.yaml: model.id is required"):
        parse_clarifai_config({"model": {"model_type_id": "text-to-text"}})


def test_config_names_a_missing_model_type_id() -> None:
    with pytest.raises(BundleError, match=r"config.yaml: model.model_type_id is required"):
        parse_clarifai_config({"model": {"id": "m"}})


def test_config_refuses_a_model_id_with_a_dot() -> None:
    with pytest.raises(BundleError, match=r"model.id: a model id cannot contain '.'"):
        parse_clarifai_config({"model": {"id": "m.v2", "model_type_id": "text-to-text"}})


def test_config_needs_no_user_id_or_app_id() -> None:
    config = parse_clarifai_config({"model": {"id": "m", "model_type_id": "text-to-text"}})
    assert (config.name, config.model.user_id, config.model.app_id) == ("m", None, None)


@pytest.mark.parametrize(
    ("model_type_id", "model_type"),
    [
        ("visual-classifier", "classification"),
        ("visual-detector", "object_detection"),
        ("visual-segmenter", "segmentation"),
        ("text-to-text", "text_generation"),
        ("multimodal-to-text", "text_generation"),
        ("audio-to-text", "speech_recognition"),
        ("text-to-image", "other"),
        ("any-to-any", "other"),
    ],
)
def test_model_type_id_maps_to_a_model_type(model_type_id: str, model_type: str) -> None:
    config = parse_clarifai_config(clarifai_config("m", model_type_id))
    assert bundle_config(config).model_type == model_type


def test_concepts_are_the_labels_of_a_classifier() -> None:
    concepts = [{"id": 0, "name": "cat"}, {"id": "1", "name": "dog"}, {"id": "bird"}]
    config = parse_clarifai_config(clarifai_config("m", "visual-detector", concepts=concepts))
    assert bundle_config(config).labels == ("cat", "dog", "bird")
    assert config.concept_names() == {"0": "cat", "1": "dog"}


def test_concepts_are_refused_for_a_type_without_concepts() -> None:
    data = clarifai_config("m", "text-to-text", concepts=[{"id": "0", "name": "cat"}])
    with pytest.raises(BundleError, match=r"concepts: model type 'text-to-text' does not take"):
        parse_clarifai_config(data)


def test_inference_compute_info_with_accelerators_asks_for_a_gpu() -> None:
    info = {"cpu_limit": "2", "cpu_memory": "8Gi", "num_accelerators": 1,
            "accelerator_type": ["NVIDIA-*"], "accelerator_memory": "8Gi"}  # fmt: skip
    config = parse_clarifai_config(clarifai_config("m", inference_compute_info=info))
    (group,) = bundle_config(config).instances
    assert (group.kind, group.gpu_memory_mb) == ("auto", 8192)


def test_cpu_memory_is_the_memory_limit_of_each_instance() -> None:
    info = {"cpu_limit": "2", "cpu_memory": "1.5Gi"}
    config = parse_clarifai_config(clarifai_config("m", inference_compute_info=info))
    assert bundle_config(config).memory_limit_mb == 1536
    bare = parse_clarifai_config({"model": {"id": "m", "model_type_id": "text-to-text"}})
    assert bundle_config(bare).memory_limit_mb is None  # the server's default applies


def test_inference_compute_info_without_accelerators_is_one_cpu_instance() -> None:
    config = parse_clarifai_config(clarifai_config("m"))
    assert [g.kind for g in bundle_config(config).instances] == ["cpu"]


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ({"num_gpus": 1}, "unknown key 'inference_compute_info.num_gpus'"),
        ({"accelerator_memory": "lots"}, "accelerator_memory: cannot read memory quantity"),
        ({"num_accelerators": -1}, "num_accelerators: Input should be greater than"),
    ],
)
def test_inference_compute_info_problems_name_the_key(info: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse_clarifai_config(clarifai_config("m", inference_compute_info=info))


@pytest.mark.parametrize(
    ("checkpoints", "message"),
    [
        ({"type": "s3", "repo_id": "x"}, "checkpoints.type: Input should be 'huggingface'"),
        ({"type": "huggingface"}, "repo_id is required"),
        ({"when": "runtime"}, "checkpoints: type is required"),
        ({"repo_id": "a/b", "when": "later"}, "checkpoints.when: Input should be"),
    ],
)
def test_checkpoints_section_is_validated(checkpoints: dict[str, Any], message: str) -> None:
    with pytest.raises(BundleError, match=message):
        parse_clarifai_config(clarifai_config("m", checkpoints=checkpoints))


# -- detection ---------------------------------------------------------------------------------


def test_config_yaml_with_model_id_and_model_py_is_clarifai_not_native(tmp_path: Path) -> None:
    write_clarifai(tmp_path, "m", ECHO, top_level=True)
    prepared = prepare_bundle(tmp_path / "m", tmp_path / "work", UnpackLimits())
    assert (prepared.format, prepared.name) == ("clarifai", "m")


def test_native_bundle_with_config_yaml_stays_native(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path, "native", "", folder="native")
    (folder / "modelrt.yaml").rename(folder / "config.yaml")
    assert clarifai_layout(folder) is None
    assert prepare_bundle(folder, tmp_path / "work", UnpackLimits()).format == "native"


def test_model_mapping_without_id_is_not_claimed(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("model:\n  model_type_id: text-to-text\n")
    assert clarifai_layout(tmp_path) is None


def test_folder_without_model_code_is_refused(tmp_path: Path) -> None:
    folder = write_clarifai(tmp_path, "m", ECHO)
    (folder / "1" / "model.py").unlink()
    with pytest.raises(BundleError, match=r"needs its model code in 1/model.py"):
        prepare_bundle(folder, tmp_path / "work", UnpackLimits())


# -- checkpoints -------------------------------------------------------------------------------


def test_checkpoints_are_found_in_1_checkpoints(tmp_path: Path) -> None:
    (tmp_path / "1" / "checkpoints").mkdir(parents=True)
    (tmp_path / "1" / "checkpoints" / "model.safetensors").write_bytes(b"w")
    config = parse_clarifai_config(clarifai_config("m", checkpoints={"repo_id": "a/b"}))
    assert shipped_checkpoints(tmp_path, config.checkpoints) == tmp_path / "1" / "checkpoints"


def test_missing_checkpoints_say_modelrt_never_downloads(tmp_path: Path) -> None:
    (tmp_path / "1" / "checkpoints").mkdir(parents=True)  # empty counts as missing
    config = parse_clarifai_config(clarifai_config("m", checkpoints={"repo_id": "a/b"}))
    with pytest.raises(BundleError, match=r"never downloads checkpoints.*1/checkpoints/"):
        shipped_checkpoints(tmp_path, config.checkpoints)


def test_no_checkpoints_section_needs_no_folder(tmp_path: Path) -> None:
    assert (
        shipped_checkpoints(tmp_path, parse_clarifai_config(clarifai_config("m")).checkpoints)
        is None
    )


# -- importing model code ----------------------------------------------------------------------


def _load(tmp_path: Path, model_py: str, **kwargs: Any) -> Any:
    folder = write_clarifai(tmp_path, "m", model_py, **kwargs)
    prepared = prepare_bundle(folder, tmp_path / "work", UnpackLimits())
    spec = import_bundle(prepared, strict_requirements=False)
    runner = spec.runner_cls(ModelContext(name="m", version="1", bundle_dir=prepared.root))
    spec.package.unmount()
    return runner


@STAND_IN
def test_bundle_code_gets_the_stand_in_sdk_when_clarifai_is_missing(tmp_path: Path) -> None:
    runner = _load(tmp_path, ECHO)
    assert type(runner.model).__mro__[1] is ModelClass
    assert runner.predict(Request(inputs={"text": "hi"})) == "hi"


@STAND_IN
def test_a_module_the_stand_in_lacks_is_named_as_the_bundle_imports_it(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"imports 'clarifai.client'.*requirements.txt asks"):
        _load(tmp_path, "from clarifai.client import Model\n" + textwrap.dedent(ECHO))


def test_unmarked_typed_method_is_neither_style_and_is_refused(tmp_path: Path) -> None:
    code = """
        from clarifai.runners.models.model_class import ModelClass

        class Old(ModelClass):
            def predict(self, text1: str = "", image_url: str = "") -> str:
                return text1
    """
    with pytest.raises(BundleError, match=r"predict\(text1, image_url\) is neither marked"):
        _load(tmp_path, code)


def test_two_model_classes_are_refused(tmp_path: Path) -> None:
    code = textwrap.dedent(ECHO) + "\nclass Other(ModelClass):\n    pass\n"
    with pytest.raises(BundleError, match=r"several model classes \(Echo, Other\)"):
        _load(tmp_path, code)


# -- methods: kinds, checks, selection ---------------------------------------------------------


class Several(ModelClass):
    @ModelClass.method
    def predict(self, prompt: str, temperature: float = Param(default=0.7, max_value=2.0)) -> str:
        return f"{prompt}:{temperature}"

    @ModelClass.method
    def caption(self, image: Image, words: Optional[int] = None) -> Text:  # noqa: UP045
        return Text(f"{image.to_pil().size}:{words}")

    @ModelClass.method
    def count(self, words: list[str]) -> int:
        return len(words)

    @ModelClass.method
    def tokens(self, prompt: str) -> Iterator[str]:
        yield from prompt

    @ModelClass.method
    def echo(self, chunks: Iterator[bytes], sep: str = "") -> Iterator[bytes]:
        yield from chunks

    def helper(self) -> None:
        """Not marked: never callable."""


def test_methods_are_sorted_by_the_rpc_they_serve() -> None:
    kinds = {name: spec.kind for name, spec in method_specs(Several).items()}
    assert kinds == {
        "predict": "predict",
        "caption": "predict",
        "count": "predict",
        "tokens": "generate",
        "echo": "stream",
    }


def test_method_choice_defaults_to_the_rpc_name_then_the_only_candidate() -> None:
    methods = method_specs(Several)
    assert choose(methods, "predict", None).name == "predict"
    assert choose(methods, "generate", None).name == "tokens"
    assert choose(methods, "predict", "caption").name == "caption"


def test_method_choice_errors_list_what_can_be_called() -> None:
    methods = {k: v for k, v in method_specs(Several).items() if k != "predict"}
    with pytest.raises(
        InvalidInputError, match=r"methods: caption\(image, words\), count\(words\)"
    ):
        choose(methods, "predict", None)
    with pytest.raises(InvalidInputError, match=r"'tokens' is called with Generate, not Predict"):
        choose(methods, "predict", "tokens")


def test_untyped_argument_is_refused_at_load() -> None:
    def predict(self: Any, text) -> str:  # type: ignore[no-untyped-def]
        return str(text)

    with pytest.raises(BundleError, match=r"argument 'text' has no type hint"):
        method_spec("predict", predict)


def test_iterator_input_with_plain_return_is_refused_at_load() -> None:
    def stream(self: Any, items: Iterator[str]) -> str:
        return ""

    with pytest.raises(BundleError, match=r"takes an Iterator, so it must return an Iterator"):
        method_spec("stream", stream)


def test_unconvertible_type_is_refused_at_load() -> None:
    def predict(self: Any, value: complex) -> str:
        return ""

    with pytest.raises(BundleError, match=r"cannot convert values to complex"):
        method_spec("predict", predict)


# -- argument conversion -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        ("hi", str, "hi"),
        (np.array(3, dtype=np.int64), int, 3),
        (2, float, 2.0),
        (True, bool, True),
        ("ab", bytes, b"ab"),
        ([1, 2], list[int], [1, 2]),
        (np.array([1.5, 2.5]), list[float], [1.5, 2.5]),
        ({"a": 1}, dict[str, int], {"a": 1}),
        (None, Optional[str], None),  # noqa: UP045
        ("x", str | None, "x"),
    ],
)
def test_wire_values_convert_to_the_type_hint(value: Any, annotation: Any, expected: Any) -> None:
    assert convert(value, annotation) == expected


def test_png_bytes_become_an_image_a_pil_image_or_an_array() -> None:
    assert convert(_png(3, 2), Image).to_pil().size == (3, 2)
    assert convert(_png(3, 2), PILImage.Image).size == (3, 2)
    assert convert(_png(3, 2), np.ndarray).shape == (2, 3, 3)


def test_text_concept_and_region_are_built_from_text_and_json() -> None:
    assert convert("hi", Text) == Text("hi")
    concept = convert({"name": "cat", "value": 0.5}, Concept)
    assert (concept.id, concept.name, concept.value) == ("cat", "cat", 0.5)
    region = convert({"box": [0, 0, 1, 1], "concepts": [{"name": "dog"}]}, Region)
    assert (region.box, region.concepts[0].name) == ([0, 0, 1, 1], "dog")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"question": "why?"}, r"takes only 'text' and 'url', not 'question'"),
        ({}, r"an empty JSON object is not Text"),
        ({"text": 3}, r"needs string 'text' and 'url' values"),
    ],
)
def test_json_objects_that_are_not_text_are_refused_for_text(value: Any, message: str) -> None:
    assert convert({"text": "hi", "url": "u"}, Text) == Text("hi", "u")
    spec = method_spec("predict", Several.caption)  # any method: only the argument matters
    argument = replace(spec.arguments[0], name="prompt", annotation=Text)
    with pytest.raises(InvalidInputError, match=message) as caught:
        argument_value(argument, value, "predict")
    assert caught.value.metadata == {"input": "prompt"}


def test_arguments_come_from_inputs_then_parameters_then_param_defaults() -> None:
    spec = method_specs(Several)["predict"]
    assert call_arguments(spec, Request(inputs={"prompt": "p"})) == {
        "prompt": "p",
        "temperature": 0.7,
    }
    parameters = {"temperature": 1, "method": "predict", "max_tokens": 9}  # unknown: ignored
    request = Request(inputs={"prompt": "p"}, parameters=parameters)
    assert call_arguments(spec, request) == {"prompt": "p", "temperature": 1.0}


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request(inputs={}), r"missing input 'prompt'"),
        (Request(inputs={"prompt": 1}), r"input 'prompt' of method 'predict': cannot convert"),
        (Request(inputs={"prompt": "p", "temp": 1}), r"no argument 'temp'; it takes predict"),
        (Request(inputs={"prompt": "p"}, parameters={"temperature": 3}), r"at most 2.0"),
    ],
)
def test_bad_arguments_are_invalid_input_naming_it(request_: Request, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call_arguments(method_specs(Several)["predict"], request_)


def test_a_lone_input_named_after_no_argument_binds_to_the_first_argument() -> None:
    methods = method_specs(Several)
    assert call_arguments(methods["predict"], Request(inputs={"text": "hi"})) == {
        "prompt": "hi",
        "temperature": 0.7,
    }
    caption = call_arguments(methods["caption"], Request(inputs={"picture": _png(3, 2)}))
    assert caption["image"].to_pil().size == (3, 2)


def test_a_lone_input_naming_an_argument_binds_by_its_name() -> None:
    with pytest.raises(InvalidInputError, match=r"missing input 'image'"):
        call_arguments(method_specs(Several)["caption"], Request(inputs={"words": 3}))


def test_a_rebound_input_that_does_not_convert_names_the_input_and_the_argument() -> None:
    with pytest.raises(
        InvalidInputError, match=r"input 'count' \(argument 'prompt'\) of method 'predict': cannot"
    ) as caught:
        call_arguments(method_specs(Several)["predict"], Request(inputs={"count": [1, 2]}))
    assert caught.value.metadata == {"input": "count"}


def test_stream_messages_with_one_input_feed_the_streamed_argument_whatever_its_name() -> None:
    spec = method_specs(Several)["echo"]  # echo(chunks: Iterator[bytes], sep: str = "")
    first = Request(inputs={"audio": b"a"})
    rest = iter([Request(inputs={"audio": b"b"}), Request(inputs={"chunks": b"c"})])
    assert call_arguments(spec, first) == {"sep": ""}
    assert list(streamed_items(spec, first, rest)) == [b"a", b"b", b"c"]


# -- outputs -----------------------------------------------------------------------------------


def test_outputs_become_json_and_named_blobs() -> None:
    assert to_output("hi") == "hi"
    assert to_output(Text("hi")) == "hi"
    assert to_output([Concept("cat", 0.5)]) == [{"id": "cat", "name": "cat", "value": 0.5}]
    region = to_output(Region(box=[0.1, 0.2, 0.3, 0.4], concepts=[Concept("dog")], id="r"))
    assert region == {"id": "r", "box": [0.1, 0.2, 0.3, 0.4],
                      "concepts": [{"id": "dog", "name": "dog", "value": 1.0}]}  # fmt: skip
    assert to_output(Image(bytes=b"png")) == {"image": b"png"}
    assert to_output({"caption": Text("a"), "mask": Image(bytes=b"m")}) == {
        "caption": "a",
        "mask": b"m",
    }


# -- proto style -------------------------------------------------------------------------------


def test_request_becomes_a_post_model_outputs_request() -> None:
    codec = ProtoCodec(ModelIdentity("m", "1"), {})
    inputs = {
        "prompt": "hi",
        "image": b"img",
        "speech_audio": b"wav",
        "extra": "more",
        "x": {"k": 1},
    }
    message = codec.request(Request(inputs=inputs, parameters={"max_tokens": 5}, id="r1"))
    data = message.inputs[0].data
    assert (message.model_id, message.inputs[0].id) == ("m", "r1")
    assert (data.text.raw, data.image.base64, data.audio.base64) == ("hi", b"img", b"wav")
    assert (data.parts[0].id, data.parts[0].data.text.raw) == ("extra", "more")
    assert data.metadata["x"]["k"] == 1
    assert message.model.model_version.output_info.params["max_tokens"] == 5


def test_request_carries_the_ids_the_platform_sends() -> None:
    identity = ModelIdentity("m", "3", "text-to-text", user_id="acme", app_id="main")
    message = ProtoCodec(identity, {}).request(Request(inputs={"text": "hi"}))
    assert (message.model_id, message.version_id) == ("m", "3")
    assert (message.model.id, message.model.model_version.id) == ("m", "3")
    assert message.model.model_type_id == "text-to-text"
    assert (message.user_app_id.user_id, message.user_app_id.app_id) == ("acme", "main")
    output_info = json_format.MessageToDict(message.model.model_version.output_info)
    assert output_info == {"params": {}}  # present, so output_info["params"] works


def test_response_concepts_regions_and_images_come_back(tmp_path: Path) -> None:
    codec = ProtoCodec(ModelIdentity("m", "1"), {"7": "cat"})
    response = codec.messages.service.MultiOutputResponse()
    output = response.outputs.add()
    output.status.code = 10000
    output.data.concepts.add(id="7", value=0.5)
    region = output.data.regions.add(id="r")
    box = region.region_info.bounding_box
    box.top_row, box.left_col, box.bottom_row, box.right_col = 0.1, 0.2, 0.3, 0.4
    output.data.image.base64 = b"png"
    assert codec.response(response) == {
        "concepts": [{"id": "7", "name": "cat", "value": 0.5}],
        "regions": [{"id": "r", "box": [0.2, 0.1, 0.4, 0.3]}],
        "image": b"png",
    }


def test_failure_status_in_a_response_raises() -> None:
    codec = ProtoCodec(ModelIdentity("m", "1"), {})
    response = codec.messages.service.MultiOutputResponse()
    response.status.code = 10020
    response.status.description = "Failure"
    with pytest.raises(ModelAnswerError, match=r"status 10020: Failure"):
        codec.response(response)


def test_the_platform_rpc_method_wins_over_the_short_name_of_a_hook() -> None:
    class Both(ModelClass):
        def predict(self, request: Any) -> Any: ...

        def PostModelOutputs(self, request: Any) -> Any: ...

        def StreamModelOutputs(self, request_iterator: Any) -> Any: ...

    assert proto_hooks(Both) == {"predict": "PostModelOutputs", "stream": "StreamModelOutputs"}


def test_a_platform_rpc_method_taking_more_than_the_request_is_refused() -> None:
    class Odd(ModelClass):
        def GenerateModelOutputs(self, request: Any, extra: int) -> Any: ...

    with pytest.raises(BundleError, match=r"GenerateModelOutputs\(request, extra\)"):
        proto_hooks(Odd)
