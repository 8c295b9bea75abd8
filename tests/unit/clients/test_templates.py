"""Bundle templates: the dispatch tables, what init writes, and the errors it gives."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from clients.cli.commands import cli
from clients.templates import (
    FRAMEWORKS,
    LAYOUTS,
    MODEL_TYPES,
    TemplateError,
    catalog,
    name_for,
    offered_combinations,
    render,
    write_template,
)
from loader.clarifai.config import bundle_config, parse_clarifai_config
from loader.clarifai.layout import clarifai_layout
from loader.config import parse_config
from loader.gesund.detect import gesund_layout, namespace_of, scan_registrations

NATIVE_FILES = {
    "model.py", "processing.py", "backend.py", "build_model.py", "modelrt.yaml",
    "requirements.txt", "README.md",
}  # fmt: skip
GESUND_FILES = {
    "__init__.py", "model.py", "preprocess.py", "postprocess.py", "loss.py", "schema.py",
    "processing.py", "backend.py", "build_model.py", "reqs.txt", "README.md",
}  # fmt: skip
CLARIFAI_FILES = {
    "config.yaml", "requirements.txt", "README.md", "1/model.py", "1/processing.py",
    "1/backend.py", "1/build_model.py",
}  # fmt: skip
COMBINATIONS = offered_combinations()
EVERY_TEMPLATE = [(layout, t, f) for layout in LAYOUTS for t, f in offered_combinations(layout)]
PREDICT_TYPES = ("classification", "object-detection", "segmentation", "other")
RUFF = Path(sys.executable).parent / "ruff"


def test_every_model_type_is_offered_with_every_framework_in_the_native_layout() -> None:
    assert set(MODEL_TYPES) == {
        "classification", "object-detection", "segmentation", "text-generation",
        "speech-recognition", "other",
    }  # fmt: skip
    assert set(FRAMEWORKS) == {"onnx", "pytorch", "tensorflow", "keras", "sklearn", "other"}
    assert set(LAYOUTS) == {"native", "gesund", "clarifai"}
    assert sorted(COMBINATIONS) == sorted((t, f) for t in MODEL_TYPES for f in FRAMEWORKS)


def test_gesund_offers_the_predict_types_with_the_frameworks_its_loader_recognises() -> None:
    frameworks = ("onnx", "pytorch", "tensorflow", "keras", "sklearn")  # not plain numpy (.npz)
    assert sorted(offered_combinations("gesund")) == sorted(
        (t, f) for t in PREDICT_TYPES for f in frameworks
    )


def test_clarifai_offers_every_type_with_every_framework() -> None:
    assert sorted(offered_combinations("clarifai")) == sorted(COMBINATIONS)


@pytest.mark.parametrize(("model_type", "framework"), COMBINATIONS)
def test_native_template_has_every_file_and_a_valid_config(model_type, framework) -> None:
    files = render(model_type, framework, "my-model")
    assert set(files) == NATIVE_FILES
    config = parse_config(yaml.safe_load(files["modelrt.yaml"]))
    assert config.name == "my-model"
    assert config.model_type == model_type.replace("-", "_")
    assert config.framework == framework
    assert config.inputs, "the template declares its inputs"
    for name, text in files.items():
        if name.endswith(".py"):
            ast.parse(text, filename=name)  # a SyntaxError names the file and line
    assert '@register("my-model")' in files["model.py"]
    assert '@outschema("my-model")' in files["model.py"]
    assert FRAMEWORKS[framework].weights in files["backend.py"]


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_weights_are_what_the_backend_loads_and_the_build_script_writes(framework) -> None:
    files = render("other", framework, "m")
    weights = FRAMEWORKS[framework].weights
    assert f'WEIGHTS = "{weights}"' in files["backend.py"]
    assert "from backend import" in files["build_model.py"]
    assert "WEIGHTS" in files["build_model.py"]
    assert "import processing" not in files["backend.py"]  # the backend works in any layout


@pytest.mark.parametrize("model_type", PREDICT_TYPES)
def test_gesund_template_is_a_package_registered_under_the_model_name(tmp_path, model_type) -> None:
    files = render(model_type, "onnx", "my-model", "gesund")
    assert set(files) == GESUND_FILES
    assert "from register.register import modelservice" in files["model.py"]
    assert '@modelservice.register_module(name="my-model", default=False)' in files["model.py"]
    assert "from register import outschema" in files["schema.py"]
    assert '@outschema.register_module("my-model", default=False)' in files["schema.py"]
    assert "def __call__(self, input, batch=False):" in files["preprocess.py"]
    assert "def __call__(self, input, batch=False, context=None):" in files["postprocess.py"]
    assert files["__init__.py"].startswith("from .model import *")
    folder = tmp_path / "bundle"
    write_template(folder, files)
    assert gesund_layout(folder) is not None  # recognised as a Gesund bundle, no code run
    assert namespace_of(scan_registrations(folder)) == "my-model"


@pytest.mark.parametrize("model_type", list(MODEL_TYPES))
def test_clarifai_template_has_the_platform_config_and_a_typed_model_class(
    tmp_path, model_type
) -> None:
    files = render(model_type, "pytorch", "my-model", "clarifai")
    assert set(files) == CLARIFAI_FILES
    data = yaml.safe_load(files["config.yaml"])
    assert {"id", "user_id", "app_id", "model_type_id"} <= set(data["model"])
    config = bundle_config(parse_clarifai_config(data))
    assert config.name == "my-model"
    assert config.model_type == model_type.replace("-", "_")
    assert "torch>=2.1" in files["requirements.txt"]
    assert "clarifai" in files["requirements.txt"]
    folder = tmp_path / "bundle"
    write_template(folder, files)
    assert clarifai_layout(folder) is not None
    classes = [n for n in ast.parse(files["1/model.py"]).body if isinstance(n, ast.ClassDef)]
    (model_class,) = classes
    assert [ast.unparse(base) for base in model_class.bases] == ["ModelClass"]
    methods = [
        node
        for node in model_class.body
        if isinstance(node, ast.FunctionDef)
        and [ast.unparse(d) for d in node.decorator_list] == ["ModelClass.method"]
    ]
    assert methods, "the model class marks its callable methods"
    for method in methods:
        assert method.returns is not None, method.name
        assert all(arg.annotation is not None for arg in method.args.args[1:]), method.name


def test_clarifai_concepts_are_the_labels_of_image_types() -> None:
    for model_type, concepts in [
        ("classification", ("red", "green", "blue")),
        ("segmentation", ("background", "red", "green", "blue")),
        ("text-generation", ()),
    ]:
        data = yaml.safe_load(render(model_type, "onnx", "m", "clarifai")["config.yaml"])
        assert bundle_config(parse_clarifai_config(data)).labels == concepts


def test_a_clarifai_model_id_cannot_hold_a_dot() -> None:
    with pytest.raises(TemplateError, match=r"a Clarifai model id cannot contain '.': 'v1.2'"):
        render("other", "onnx", "v1.2", "clarifai")


@pytest.mark.skipif(not RUFF.exists(), reason="ruff comes with the dev extra")
def test_generated_code_passes_the_project_lint_rules_and_format(tmp_path) -> None:
    for layout, model_type, framework in EVERY_TEMPLATE:
        name = f"{model_type}-{framework}"
        folder = tmp_path / layout / name.replace("-", "_")  # a Gesund bundle is a package
        write_template(folder, render(model_type, framework, name, layout))
    style = ["--isolated", "--line-length", "100", "--target-version", "py311"]
    first_party = "lint.isort.known-first-party = ['backend', 'processing']"
    rules = "E,F,W,I,B,UP,SIM,RUF,C4,RET,N"
    commands = [
        [str(RUFF), "check", *style, "--select", rules, "--config", first_party, "."],
        [str(RUFF), "format", *style, "--check", "."],
    ]
    for command in commands:
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("model_type", list(MODEL_TYPES))
def test_model_code_implements_the_hooks_of_its_type(model_type) -> None:
    tree = ast.parse(render(model_type, "other", "m")["model.py"])
    methods = {
        node.name
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for node in cls.body
        if isinstance(node, ast.FunctionDef)
    }
    assert set(MODEL_TYPES[model_type].hooks) <= methods
    assert "load_model" in methods


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("vision", "onnx"), "unknown model type 'vision'; choose one of: classification"),
        (("classification", "jax"), "unknown framework 'jax'; choose one of: onnx, pytorch"),
        (("classification", "onnx", "m", "bento"), "unknown layout 'bento'; choose one of:"),
    ],
)
def test_unknown_type_framework_or_layout_is_an_error_listing_the_choices(args, message) -> None:
    if len(args) == 2:
        args = (*args, "m")
    with pytest.raises(TemplateError, match=message):
        render(*args)


def test_a_combination_a_framework_does_not_offer_is_refused_listing_the_offered(
    monkeypatch,
) -> None:
    narrow = dataclasses.replace(FRAMEWORKS["sklearn"], model_types=frozenset({"other"}))
    monkeypatch.setitem(catalog.FRAMEWORKS, "sklearn", narrow)
    assert ("text-generation", "sklearn") not in offered_combinations()
    with pytest.raises(TemplateError) as caught:
        render("text-generation", "sklearn", "m")
    message = str(caught.value)
    assert message.startswith("no native template for text-generation with sklearn; the native")
    assert "other: onnx, pytorch, tensorflow, keras, sklearn, other" in message
    assert "text-generation: onnx, pytorch, tensorflow, keras, other" in message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("text-generation", "onnx", "m", "gesund"),
            "no gesund template for text-generation with onnx (offered in the native and clarifai"
            " layouts); the gesund layout offers classification: onnx, pytorch, tensorflow, keras,"
            " sklearn; object-detection: ",
        ),
        (
            ("classification", "other", "m", "gesund"),
            "no gesund template for classification with other (offered in the native and clarifai"
            " layouts); the gesund layout offers classification: onnx,",
        ),
    ],
)
def test_a_combination_a_layout_does_not_offer_is_refused_listing_what_it_offers(
    args, message
) -> None:
    with pytest.raises(TemplateError) as caught:
        render(*args)
    assert str(caught.value).startswith(message)
    assert "speech-recognition" not in str(caught.value).partition("offers")[2]


def test_write_template_refuses_a_non_empty_folder_unless_forced(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    files = {"model.py": "x = 1\n", "sub/a.txt": "a"}
    with pytest.raises(TemplateError, match="is not empty; use --force"):
        write_template(tmp_path, files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    written = write_template(tmp_path, files, force=True)
    assert written == [tmp_path / "model.py", tmp_path / "sub" / "a.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"  # other files are left alone


def test_write_template_refuses_a_file_in_the_way(tmp_path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(TemplateError, match="exists and is not a folder"):
        write_template(tmp_path / "taken", {"model.py": ""}, force=True)


@pytest.mark.parametrize(
    ("folder", "name"),
    [("My Model", "my-model"), ("resnet_50.v2", "resnet_50.v2"), ("--x--", "x")],
)
def test_model_name_comes_from_the_folder_name(tmp_path, folder, name) -> None:
    assert name_for(tmp_path / folder) == name


def test_a_folder_name_with_no_usable_character_asks_for_a_name(tmp_path) -> None:
    with pytest.raises(TemplateError, match="pass --name"):
        name_for(tmp_path / "___")


# --- the CLI command ---------------------------------------------------------------------------


def _init(*args: str):
    return CliRunner().invoke(cli, ["init", *args])


def test_init_writes_the_template_and_says_what_to_run_next(tmp_path) -> None:
    target = tmp_path / "Colour Model"
    result = _init(str(target), "--type", "classification", "--framework", "onnx")
    assert result.exit_code == 0, result.output
    assert {p.name for p in target.iterdir()} == NATIVE_FILES
    assert "name: colour-model" in (target / "modelrt.yaml").read_text()
    assert f"python {target / 'build_model.py'}" in result.stdout
    assert f"modelrt run-local {target}" in result.stdout


def test_init_refuses_a_non_empty_folder_unless_forced(tmp_path) -> None:
    (tmp_path / "model.py").write_text("# mine\n")
    args = (str(tmp_path), "--type", "other", "--framework", "other", "--name", "m")
    refused = _init(*args)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: ")
    assert "is not empty; use --force" in refused.stderr
    assert (tmp_path / "model.py").read_text() == "# mine\n"
    forced = _init(*args, "--force")
    assert forced.exit_code == 0, forced.output
    assert '@register("m")' in (tmp_path / "model.py").read_text()


def test_init_refuses_an_invalid_name(tmp_path) -> None:
    result = _init(str(tmp_path / "d"), "--type", "other", "--framework", "other", "--name", "a b")
    assert result.exit_code == 1
    assert "invalid model name 'a b'" in result.stderr
    assert not (tmp_path / "d").exists()


def test_init_offers_only_the_implemented_choices(tmp_path) -> None:
    unknown = _init(str(tmp_path / "d"), "--type", "classification", "--framework", "jax")
    assert unknown.exit_code == 2
    assert (
        "'jax' is not one of 'onnx', 'pytorch', 'tensorflow', 'keras', 'sklearn', 'other'"
        in unknown.stderr
    )
    layout = _init(str(tmp_path / "d"), "--type", "other", "--framework", "onnx", "--layout", "x")
    assert layout.exit_code == 2
    assert "'x' is not one of 'native', 'gesund', 'clarifai'" in layout.stderr


def test_init_refuses_a_combination_the_layout_does_not_offer(tmp_path) -> None:
    args = ("--type", "speech-recognition", "--framework", "onnx", "--layout", "gesund")
    result = _init(str(tmp_path / "d"), *args)
    assert result.exit_code == 1
    assert "no gesund template for speech-recognition with onnx" in result.stderr
    assert "the gesund layout offers classification: " in result.stderr
    assert not (tmp_path / "d").exists()


def test_init_help_lists_every_offered_combination_per_layout() -> None:
    result = CliRunner().invoke(cli, ["init", "--help"])
    assert result.exit_code == 0
    sections = result.stdout.split("--layout ")[2:]  # after the option's own help
    assert [section.split(":")[0] for section in sections] == list(LAYOUTS)
    for layout, section in zip(LAYOUTS, sections, strict=True):
        lines = section.splitlines()
        offered = offered_combinations(layout)
        for model_type in dict.fromkeys(t for t, _ in offered):
            frameworks = [f for t, f in offered if t == model_type]
            expected = [model_type, *[f"{f}," for f in frameworks[:-1]], frameworks[-1]]
            assert any(line.split() == expected for line in lines), (layout, model_type)
        listed = {line.split()[0] for line in lines[1:] if line.strip()}
        assert listed == {t for t, _ in offered}, layout


@pytest.mark.parametrize(
    ("layout", "files", "build_script"),
    [
        ("gesund", GESUND_FILES, "build_model.py"),
        ("clarifai", CLARIFAI_FILES, "1/build_model.py"),
    ],
)
def test_init_writes_a_platform_layout_and_names_its_build_script(
    tmp_path, layout, files, build_script
) -> None:
    target = tmp_path / "colours"
    result = _init(str(target), "--type", "object-detection", "--framework", "keras",
                   "--layout", layout)  # fmt: skip
    assert result.exit_code == 0, result.output
    written = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    assert written == files
    assert f"(keras, {layout})" in result.stdout
    assert f"python {target / build_script}" in result.stdout
