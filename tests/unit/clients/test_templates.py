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

from clients.cli import cli
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
from loader.config import parse_config

NATIVE_FILES = {
    "model.py", "processing.py", "backend.py", "build_model.py", "modelrt.yaml",
    "requirements.txt", "README.md",
}  # fmt: skip
COMBINATIONS = offered_combinations()
RUFF = Path(sys.executable).parent / "ruff"


def test_every_model_type_is_offered_with_every_framework() -> None:
    assert set(MODEL_TYPES) == {
        "classification", "object-detection", "segmentation", "text-generation",
        "speech-recognition", "other",
    }  # fmt: skip
    assert set(FRAMEWORKS) == {"onnx", "pytorch", "sklearn", "other"}
    assert set(LAYOUTS) == {"native"}
    assert sorted(COMBINATIONS) == sorted((t, f) for t in MODEL_TYPES for f in FRAMEWORKS)


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


@pytest.mark.skipif(not RUFF.exists(), reason="ruff comes with the dev extra")
def test_generated_code_passes_the_project_lint_rules_and_format(tmp_path) -> None:
    for model_type, framework in COMBINATIONS:
        name = f"{model_type}-{framework}"
        write_template(tmp_path / name, render(model_type, framework, name))
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
        (("classification", "onnx", "m", "gesund"), "unknown layout 'gesund'; choose one of:"),
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
    assert message.startswith("no template for text-generation with sklearn; offered")
    assert "other/sklearn" in message
    assert "text-generation/onnx" in message
    assert "text-generation/sklearn" not in message


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
    unknown = _init(str(tmp_path / "d"), "--type", "classification", "--framework", "keras")
    assert unknown.exit_code == 2
    assert "'keras' is not one of 'onnx', 'pytorch', 'sklearn', 'other'" in unknown.stderr
    layout = _init(str(tmp_path / "d"), "--type", "other", "--framework", "onnx", "--layout", "x")
    assert layout.exit_code == 2
    assert "'x' is not 'native'" in layout.stderr


def test_init_help_lists_every_offered_combination() -> None:
    result = CliRunner().invoke(cli, ["init", "--help"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    for model_type in MODEL_TYPES:
        offered = [f for t, f in COMBINATIONS if t == model_type]
        assert any(line.split() == [model_type, *[f"{f}," for f in offered[:-1]], offered[-1]]
                   for line in lines), model_type  # fmt: skip
