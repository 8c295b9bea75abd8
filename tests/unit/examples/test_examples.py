"""The example bundles under examples/: their layouts, configs, schemas and weights builds, and
their model code called directly."""

from __future__ import annotations

import importlib.util
import logging
import runpy
import shutil
import sys
from collections.abc import Callable, Iterator
from itertools import count, pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pydantic
import pytest

from loader.config import parse_config, read_yaml
from loader.formats import FORMATS
from loader.frameworks import find_weights, load_bundle_weights
from loader.gesund.detect import scan_registrations
from loader.layout import detect_layout
from registry import InvalidInputError, ModelContext, ModelRunner, Registry, Request

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
# Every native bundle under examples/ (a new example gets its config checked automatically).
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "modelrt.yaml").exists())
#: Every example folder, and the layout the loader must detect it as.
LAYOUTS = {
    "block-detector": "gesund",
    "bright-segmenter": "native",
    "color-classifier": "native",
    "language-id": "clarifai",
    "sentiment": "native",
    "speech-stream": "native",
    "tiny-llm": "native",
}
#: The weights file each example's build_weights.py writes (.gitignore leaves them out).
BUILT_WEIGHTS = {
    "block-detector": "block_detector.pt",
    "bright-segmenter": "bright_segmenter.keras",
    "color-classifier": "model.onnx",
    "language-id": "1/language_id.joblib",
}
_package_ids = count()

LoadExample = Callable[..., ModelRunner]


def import_bundle(folder: Path, package: str) -> ModuleType:
    """Import ``folder/model.py`` as package ``package`` so its sibling imports resolve."""
    spec = importlib.util.spec_from_file_location(
        package, folder / "model.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)
    return module


def registered(folder: Path, package: str) -> Registry:
    registry = Registry()
    registry.collect(import_bundle(folder, package))
    return registry


@pytest.fixture
def new_package(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], str]]:
    """Hand out unique package names for bundles; forget their modules afterwards."""
    packages: list[str] = []

    def new(folder: Path) -> str:
        monkeypatch.syspath_prepend(str(folder))  # for bundles that use plain `import sibling`
        packages.append(f"example_bundle_{next(_package_ids)}")
        return packages[-1]

    yield new
    for key in list(sys.modules):
        if any(key == p or key.startswith(p + ".") for p in packages):
            del sys.modules[key]


@pytest.fixture
def load_example(new_package: Callable[[Path], str]) -> LoadExample:
    """Build and load an example's model the way the runtime does: cls(context), load_model()."""

    def load(name: str, folder: Path | None = None) -> ModelRunner:
        folder = folder or EXAMPLES / name
        config = parse_config(read_yaml(folder / "modelrt.yaml"))
        runner = registered(folder, new_package(folder)).runners[config.name](
            ModelContext(
                name=config.name,
                version="1",
                bundle_dir=folder,
                config=config.model_dump(mode="json"),
                parameters=config.parameters,
                weights_loader=load_bundle_weights,
            )
        )
        runner.load_model()
        return runner

    return load


def as_dict(output: Any) -> dict[str, Any]:
    return output if isinstance(output, dict) else output.model_dump()


@pytest.fixture
def built(tmp_path: Path) -> Callable[[str], Path]:
    """Copy an example without its weights into tmp_path and build them there."""

    def build(name: str) -> Path:
        folder = shutil.copytree(
            EXAMPLES / name,
            tmp_path / name,
            ignore=shutil.ignore_patterns(Path(BUILT_WEIGHTS[name]).name, "__pycache__"),
        )
        runpy.run_path(str(folder / "build_weights.py"))["build"]()
        return folder

    return build


# --- layouts, configs, schemas, weights ----------------------------------------------------


def test_every_example_folder_has_a_known_layout() -> None:
    folders = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name[0] not in "._")
    assert folders == sorted(LAYOUTS)
    assert set(LAYOUTS.values()) == {f.name for f in FORMATS}  # every layout shown once at least


@pytest.mark.parametrize(("name", "layout"), sorted(LAYOUTS.items()))
def test_example_folder_is_detected_as_its_layout(name: str, layout: str) -> None:
    assert detect_layout(EXAMPLES / name, [f.detect for f in FORMATS]).format == layout


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_native_example_publishes_an_output_schema(
    name: str, new_package: Callable[[Path], str]
) -> None:
    schema = registered(EXAMPLES / name, new_package(EXAMPLES / name)).schemas[name]
    assert schema.model_json_schema()


def test_gesund_example_registers_its_model_and_response_schema() -> None:
    found = {
        (r.registry, r.namespace, r.default)
        for r in scan_registrations(EXAMPLES / "block-detector")
    }
    assert found == {
        ("modelservice", "block-detector", False),
        ("outschema", "block-detector", False),
    }


@pytest.mark.parametrize("name", sorted(set(BUILT_WEIGHTS) - {"color-classifier"}))
def test_weights_build_is_deterministic(built: Callable[[str], Path], name: str) -> None:
    folder = built(name)
    weights = folder / BUILT_WEIGHTS[name]
    first = weights.read_bytes()
    weights.unlink()  # build afresh, not just skip an up-to-date file
    runpy.run_path(str(folder / "build_weights.py"))["build"]()
    assert weights.read_bytes() == first
    assert find_weights(folder) == weights  # the bundle's only weights file
    assert len(first) < 100_000


# --- configs -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_config_validates_and_names_the_registered_namespace(
    name: str, new_package: Callable[[Path], str]
) -> None:
    folder = EXAMPLES / name
    config = parse_config(read_yaml(folder / "modelrt.yaml"))
    registry = registered(folder, new_package(folder))
    assert config.name == name
    assert registry.namespaces() == [config.name]
    assert set(registry.schemas) <= {config.name}


def test_examples_include_one_bundle_per_rpc_kind() -> None:
    assert {"color-classifier", "sentiment", "speech-stream", "tiny-llm"} <= set(EXAMPLE_NAMES)


# --- sentiment -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "label", "matched"),
    [
        ("What a great day, I love it!", "positive", ["great", "love"]),
        ("The food was terrible and the service was slow.", "negative", ["terrible", "slow"]),
        ("The train leaves at noon.", "neutral", []),
        ("It was not good.", "negative", ["not good"]),
        ("I don\u2019t like it.", "negative", ["don't like"]),
        ("Not bad at all, I enjoyed it.", "positive", ["not bad", "enjoyed"]),
        ("Good start, bad ending.", "neutral", ["good", "bad"]),
    ],
)
def test_sentiment_labels_text_by_its_opinion_words(
    load_example: LoadExample, text: str, label: str, matched: list[str]
) -> None:
    model = load_example("sentiment")
    result = as_dict(model.predict(Request(inputs={"text": text})))
    assert result["label"] == label
    assert result["matched"] == matched
    assert 0.5 < result["score"] <= 1.0


def test_sentiment_is_more_confident_with_more_evidence(load_example: LoadExample) -> None:
    model = load_example("sentiment")
    one = as_dict(model.predict(Request(inputs={"text": "a nice day"})))
    three = as_dict(model.predict(Request(inputs={"text": "a nice, wonderful, perfect day"})))
    assert one["label"] == three["label"] == "positive"
    assert one["score"] < three["score"]


def test_sentiment_names_a_missing_text_input(load_example: LoadExample) -> None:
    with pytest.raises(InvalidInputError, match="'text'"):
        load_example("sentiment").predict(Request(inputs={}))


# --- color-classifier ----------------------------------------------------------------------


@pytest.fixture
def color_bundle(tmp_path: Path) -> Path:
    """A copy of the color-classifier bundle with freshly built weights."""
    folder = shutil.copytree(
        EXAMPLES / "color-classifier",
        tmp_path / "color-classifier",
        ignore=shutil.ignore_patterns("*.onnx", "__pycache__"),
    )
    runpy.run_path(str(folder / "build_weights.py"), run_name="__main__")
    return folder


def test_color_weights_build_is_deterministic(color_bundle: Path) -> None:
    weights = color_bundle / "model.onnx"
    first = weights.read_bytes()
    runpy.run_path(str(color_bundle / "build_weights.py"))["build"]()
    assert weights.read_bytes() == first
    assert len(first) < 4096


@pytest.mark.parametrize(
    ("rgb", "label"),
    [
        ((255, 0, 0), "red"),
        ((0, 255, 0), "green"),
        ((0, 0, 255), "blue"),
        ((150, 40, 60), "red"),
        ((20, 90, 200), "blue"),
    ],
)
def test_color_classifier_finds_the_dominant_colour(
    load_example: LoadExample, color_bundle: Path, rgb: tuple[int, int, int], label: str
) -> None:
    model = load_example("color-classifier", color_bundle)
    image = np.full((8, 12, 3), rgb, dtype=np.uint8)
    result = model.predict(Request(inputs={"image": image}))
    assert result["label"] == label
    assert result["score"] == max(result["scores"].values())
    assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    assert set(result["scores"]) == {"red", "green", "blue"}
    assert result["probabilities"].shape == (3,)


def test_color_classifier_is_confident_on_pure_colours(
    load_example: LoadExample, color_bundle: Path
) -> None:
    model = load_example("color-classifier", color_bundle)
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[..., 1] = 255
    assert model.predict(Request(inputs={"image": image}))["score"] > 0.99


def test_color_classifier_rejects_an_image_that_is_not_hwc_uint8(
    load_example: LoadExample, color_bundle: Path
) -> None:
    model = load_example("color-classifier", color_bundle)
    with pytest.raises(InvalidInputError, match="uint8"):
        model.predict(Request(inputs={"image": np.zeros((4, 4), dtype=np.uint8)}))


def test_color_classifier_without_weights_says_how_to_build_them(
    load_example: LoadExample, color_bundle: Path
) -> None:
    (color_bundle / "model.onnx").unlink()
    with pytest.raises(FileNotFoundError, match=r"examples/build\.py"):
        load_example("color-classifier", color_bundle)


# --- tiny-llm ------------------------------------------------------------------------------


def generate(model: ModelRunner, prompt: str, **parameters: Any) -> list[dict[str, Any]]:
    return list(model.generate(Request(inputs={"prompt": prompt}, parameters=parameters)))


def test_tiny_llm_generates_max_tokens_deterministically(load_example: LoadExample) -> None:
    model = load_example("tiny-llm")
    first = generate(model, "the cat", max_tokens=12)
    assert first == generate(model, "the cat", max_tokens=12)
    assert [item["index"] for item in first] == list(range(12))
    text = "".join(item["token"] for item in first)
    assert text.startswith(" ")  # tokens append to the prompt
    corpus = (EXAMPLES / "tiny-llm" / "corpus.txt").read_text().lower()
    assert all(word.strip(".,") in corpus for word in text.lower().split())


def test_tiny_llm_predict_returns_the_text_generate_streams(load_example: LoadExample) -> None:
    model = load_example("tiny-llm")
    tokens = generate(model, "the dog", max_tokens=20)
    result = model.predict(Request(inputs={"prompt": "the dog"}, parameters={"max_tokens": 20}))
    assert result == {"text": "".join(t["token"] for t in tokens), "tokens": 20}


def test_tiny_llm_default_is_32_tokens_and_seed_makes_sampling_reproducible(
    load_example: LoadExample,
) -> None:
    model = load_example("tiny-llm")
    assert len(generate(model, "")) == 32
    assert generate(model, "a", max_tokens=15, seed=7) == generate(
        model, "a", max_tokens=15, seed=7
    )


def test_tiny_llm_stops_when_the_generator_is_closed_early(
    load_example: LoadExample, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelrt.model")
    model = load_example("tiny-llm")
    tokens = model.generate(Request(inputs={"prompt": "the"}, parameters={"max_tokens": 500}))
    assert isinstance(tokens, Iterator)
    received = [next(tokens) for _ in range(3)]
    tokens.close()
    assert [item["index"] for item in received] == [0, 1, 2]
    assert "generation closed after 3 tokens" in caplog.text
    assert next(tokens, None) is None


@pytest.mark.parametrize(
    "parameters",
    [{"max_tokens": 0}, {"max_tokens": 513}, {"max_tokens": 2.5}, {"max_tokens": "many"},
     {"max_tokens": True}, {"delay_ms": 1001}, {"delay_ms": -1}],
)  # fmt: skip
def test_tiny_llm_rejects_out_of_range_parameters(
    load_example: LoadExample, parameters: dict[str, Any]
) -> None:
    model = load_example("tiny-llm")
    with pytest.raises(InvalidInputError, match="parameter"):
        generate(model, "the cat", **parameters)


def test_tiny_llm_accepts_whole_number_parameters_sent_as_floats(load_example: LoadExample) -> None:
    # JSON (google.protobuf.Struct) numbers arrive as floats.
    assert len(generate(load_example("tiny-llm"), "the", max_tokens=5.0)) == 5


def test_tiny_llm_generate_and_predict_outputs_both_match_its_schema(
    load_example: LoadExample,
) -> None:
    model = load_example("tiny-llm")
    schema = sys.modules[type(model).__module__].TinyLLMOutput
    outputs = [
        *generate(model, "the cat", max_tokens=3),
        model.predict(Request(inputs={"prompt": "the cat"}, parameters={"max_tokens": 3})),
    ]
    assert [schema.model_validate(item).model_dump() for item in outputs] == outputs
    with pytest.raises(pydantic.ValidationError):
        schema.model_validate({"token": " cat"})


# --- speech-stream -------------------------------------------------------------------------


@pytest.fixture
def tones() -> ModuleType:
    """tones.py imported on its own, as a client or a doc would (no runtime needed)."""
    spec = importlib.util.spec_from_file_location(
        "example_tones", EXAMPLES / "speech-stream" / "tones.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chunks(audio: np.ndarray, size: int) -> Iterator[Request]:
    for start in range(0, len(audio), size):
        yield Request(inputs={"audio": audio[start : start + size]})


def test_speech_stream_transcribes_uneven_chunks_with_growing_partials(
    load_example: LoadExample, tones: ModuleType
) -> None:
    model = load_example("speech-stream")
    audio = tones.synthesize("hi there")
    outputs = list(model.stream(chunks(audio, 1234)))
    partials, final = outputs[:-1], outputs[-1]
    assert final == {"text": "hi there", "final": True}
    assert len(partials) == -(-len(audio) // 1234)  # one partial per chunk
    assert all(p["final"] is False for p in partials)
    texts = [p["text"] for p in partials]
    assert all(later.startswith(earlier) for earlier, later in pairwise(texts))
    assert texts[0] == ""
    assert "hi" in texts


def test_speech_stream_answers_each_chunk_before_the_next_arrives(
    load_example: LoadExample, tones: ModuleType
) -> None:
    model = load_example("speech-stream")
    sent: list[int] = []

    def live_chunks() -> Iterator[Request]:
        for index, request in enumerate(chunks(tones.synthesize("ok"), 4000)):
            sent.append(index)
            yield request

    for index, output in enumerate(model.stream(live_chunks())):
        if not output["final"]:
            assert sent[-1] == index


@pytest.mark.parametrize("text", ["hello world", "abc xyz", "aa"])
def test_speech_stream_predict_transcribes_a_whole_clip(
    load_example: LoadExample, tones: ModuleType, text: str
) -> None:
    model = load_example("speech-stream")
    result = model.predict(Request(inputs={"audio": tones.synthesize(text)}))
    assert result == {"text": text, "final": True}


def test_speech_stream_copes_with_hiss_and_unaligned_frames(
    load_example: LoadExample, tones: ModuleType
) -> None:
    model = load_example("speech-stream")
    clean = tones.synthesize("see you", gap_seconds=0.2)
    audio = np.concatenate([np.zeros(700, np.float32), clean])
    audio += np.random.default_rng(0).normal(0, 0.05, len(audio)).astype(np.float32)
    assert model.predict(Request(inputs={"audio": audio}))["text"] == "see you"


def test_speech_stream_rejects_audio_that_is_not_1d_float(load_example: LoadExample) -> None:
    model = load_example("speech-stream")
    with pytest.raises(InvalidInputError, match="audio"):
        model.predict(Request(inputs={"audio": np.zeros((2, 100), np.float32)}))


def test_tones_refuse_characters_off_the_alphabet(tones: ModuleType) -> None:
    with pytest.raises(ValueError, match="'!'"):
        tones.synthesize("hi!")


# --- bright-segmenter ----------------------------------------------------------------------


def test_bright_segmenter_keeps_whole_regions_and_drops_specks(
    load_example: LoadExample, built: Callable[[str], Path]
) -> None:
    model = load_example("bright-segmenter", built("bright-segmenter"))
    image = np.zeros((12, 16, 3), np.uint8)
    image[2:6, 3:9] = [120, 220, 140]  # light green: luminance 0.71, bright
    image[10:12, 14:16] = 255  # 2x2 in the image's corner: still a region
    image[9, 1] = 255  # a speck
    image[7:10, 11] = 255  # a line one pixel wide
    expected = np.zeros((12, 16), np.uint8)
    expected[2:6, 3:9] = expected[10:12, 14:16] = 1

    result = model.predict(Request(inputs={"image": image}))
    np.testing.assert_array_equal(result["mask"], expected)
    assert result["labels"] == ["background", "bright"]
    assert result["pixels"] == {"background": 12 * 16 - 28, "bright": 28}


def test_bright_segmenter_finds_nothing_bright_in_a_dim_image(
    load_example: LoadExample, built: Callable[[str], Path]
) -> None:
    model = load_example("bright-segmenter", built("bright-segmenter"))
    dim = np.full((5, 7, 3), [150, 100, 60], np.uint8)  # luminance 0.44
    assert model.predict(Request(inputs={"image": dim}))["pixels"] == {
        "background": 35,
        "bright": 0,
    }


def test_bright_segmenter_rejects_an_image_that_is_not_hwc_uint8(
    load_example: LoadExample, built: Callable[[str], Path]
) -> None:
    model = load_example("bright-segmenter", built("bright-segmenter"))
    with pytest.raises(InvalidInputError, match="uint8"):
        model.predict(Request(inputs={"image": np.zeros((4, 4, 3), np.float32)}))
