"""The authoring workflow: ``modelrt init`` -> the template's build script -> ``modelrt run-local``
for every offered model type and framework, run-local's failures, and serving an init'ed bundle.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clients import Client
from clients.cli import cli
from clients.templates import offered_combinations

MODELRT = Path(sys.executable).parent / "modelrt"
STEP_TIMEOUT_S = 90

# The run-local rows each model type's template must pass: its hooks, as the server calls them.
EXPECTED_HOOKS = {
    "classification": ("predict", "predict_batch"),  # batched: predict_batch serves predict
    "object-detection": ("predict",),
    "segmentation": ("predict",),
    "text-generation": ("predict", "generate"),
    "speech-recognition": ("predict", "stream"),
    "other": ("predict",),
}


def init(directory: Path, model_type: str, framework: str, *extra: str) -> Path:
    result = CliRunner().invoke(
        cli, ["init", str(directory), "--type", model_type, "--framework", framework, *extra]
    )
    assert result.exit_code == 0, result.output
    return directory


def build(bundle: Path) -> None:
    """Run the template's build script, from another folder, as an author would."""
    done = subprocess.run(
        [sys.executable, str(bundle / "build_model.py")],
        cwd=bundle.parent,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote ")


def run_local(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MODELRT), "run-local", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S + 30,
    )


def rows(output: str) -> dict[str, str]:
    """Report rows by step name: {"predict": "PASS", "generate": "FAIL", ...}."""
    found = {}
    for line in output.splitlines():
        status, _, rest = line.partition("  ")
        if status in ("PASS", "FAIL", "WARN"):
            found[rest.strip().split()[0].rstrip(":")] = status
    return found


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("model_type", "framework"), offered_combinations())
def test_init_build_and_run_local_pass_for_every_offered_combination(
    tmp_path, model_type, framework
) -> None:
    bundle = init(tmp_path / f"{model_type}-{framework}", model_type, framework)
    build(bundle)
    done = run_local(bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = {"layout", "inputs", "load", *EXPECTED_HOOKS[model_type]}
    assert rows(done.stdout) == dict.fromkeys(expected, "PASS"), done.stdout
    assert done.stdout.splitlines()[-1] == f"{bundle}: every check passed"


# --- failures ---------------------------------------------------------------------------------


@pytest.fixture
def tensor_bundle(tmp_path) -> Path:
    """A built template of type other with plain numpy: the quickest to load."""
    bundle = init(tmp_path / "tensor", "other", "other")
    build(bundle)
    return bundle


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_zipped_bundle_passes_too(tensor_bundle, tmp_path) -> None:
    archive = tmp_path / "tensor.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in tensor_bundle.iterdir():
            zipped.write(path, f"tensor/{path.name}")
    done = run_local(archive)
    assert done.returncode == 0, done.stdout + done.stderr
    assert rows(done.stdout)["predict"] == "PASS"


def test_a_predict_that_raises_fails_naming_the_exception(tensor_bundle) -> None:
    _edit(
        tensor_bundle / "model.py",
        "        probabilities = self.model.run(features)\n",
        "        raise ValueError('boom in predict')\n",
    )
    done = run_local(tensor_bundle)
    assert done.returncode == 1
    assert "FAIL  predict: INTERNAL: model 'tensor' raised ValueError" in done.stdout
    assert rows(done.stdout)["load"] == "PASS"
    assert "boom in predict" in done.stderr  # the traceback, from the worker's log
    assert f"error: {tensor_bundle}: failed predict" in done.stderr


def test_a_syntax_error_in_model_py_fails_the_load_naming_file_and_line(tensor_bundle) -> None:
    with (tensor_bundle / "model.py").open("a") as model:
        model.write("\ndef broken(:\n")
    done = run_local(tensor_bundle)
    assert done.returncode == 1
    assert "FAIL  load: INVALID_ARGUMENT: importing model.py failed: SyntaxError" in done.stdout
    assert "model.py, line" in done.stdout
    assert "predict" not in rows(done.stdout)


def test_missing_weights_fail_the_load_saying_to_run_the_build_script(tmp_path) -> None:
    bundle = init(tmp_path / "unbuilt", "text-generation", "onnx")
    done = run_local(bundle)
    assert done.returncode == 1
    assert "FAIL  load: INTERNAL: load_model raised FileNotFoundError: model.onnx is missing: " in (
        done.stdout
    )
    assert "python build_model.py" in done.stdout


def test_an_invalid_config_fails_the_layout_step_naming_the_key(tensor_bundle) -> None:
    _edit(tensor_bundle / "modelrt.yaml", "labels:", "lables:")
    done = run_local(tensor_bundle)
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL  layout: modelrt.yaml: unknown key 'lables'")


def test_a_folder_that_is_not_a_bundle_fails_the_layout_step(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("no model here")
    done = run_local(tmp_path)
    assert done.returncode == 1
    assert "FAIL  layout:" in done.stdout
    assert "expected model.py with modelrt.yaml" in done.stdout


def test_a_worker_crash_fails_the_hook_and_skips_the_hooks_after_it(tmp_path) -> None:
    bundle = init(tmp_path / "crashy", "text-generation", "other")
    build(bundle)
    _edit(
        bundle / "model.py",
        '        text = "".join(self._tokens(prompt, max_tokens, rng))\n',
        "        import os; os._exit(3)\n",
    )
    done = run_local(bundle)
    assert done.returncode == 1
    assert "FAIL  predict: UNAVAILABLE: model 'crashy' instance 0 crashed (exit code 3)" in (
        done.stdout
    )
    assert "FAIL  generate: not run: the worker is down" in done.stdout


@pytest.mark.timeout(60)
def test_a_hanging_hook_fails_at_the_timeout_and_leaves_no_worker_behind(tensor_bundle) -> None:
    _edit(
        tensor_bundle / "model.py",
        "        probabilities = self.model.run(features)\n",
        "        import time; time.sleep(60)\n",
    )
    result = CliRunner().invoke(cli, ["run-local", str(tensor_bundle), "--timeout", "2"])
    assert result.exit_code == 1
    assert "FAIL  predict: " in result.stdout
    assert multiprocessing.active_children() == []  # the worker was stopped, not orphaned


def test_a_failing_run_in_process_leaves_no_worker_behind(tensor_bundle) -> None:
    _edit(
        tensor_bundle / "model.py", "        probabilities = ", "        probabilities = 1 / 0 or "
    )
    result = CliRunner().invoke(cli, ["run-local", str(tensor_bundle)])
    assert result.exit_code == 1
    assert "FAIL  predict: INTERNAL: model 'tensor' raised ZeroDivisionError" in result.stdout
    assert multiprocessing.active_children() == []


# --- serving ----------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_an_initd_bundle_serves_predict_through_a_real_server(start_server, tmp_path) -> None:
    store = tmp_path / "store"
    bundle = init(store / "colours", "object-detection", "onnx")
    build(bundle)
    server = start_server(store=store)
    image = np.full((40, 40, 3), 100, dtype=np.uint8)
    image[0:20, 20:40] = (230, 20, 20)  # a red square in the top right quarter
    with Client(server.address, timeout=30) as client:
        info = client.get_model("colours")
        assert info.state == "READY", info.reason
        reply = client.predict("colours", {"image": image}, parameters={"score_threshold": 0.6})
    (detection,) = reply.structured["detections"]
    assert detection["label"] == "red"
    assert detection["xyxy"] == [20.0, 0.0, 40.0, 20.0]
    assert detection["score"] > 0.9
