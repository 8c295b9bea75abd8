"""The authoring workflow: ``modelrt init`` -> the template's build script -> ``modelrt run-local``
for every offered layout, model type and framework, run-local's failures, and serving init'ed
bundles.

Every offered template is built by its own build script and checked by run-local's checks; most
run those checks in this process (``check_bundle`` with the in-process executor the worker runs
behind its pipe), so TensorFlow and torch are imported once rather than once per template. A few
go through the real commands: ``python .../build_model.py`` and ``modelrt run-local``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import multiprocessing
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clients import Client
from clients.cli.commands import cli
from clients.templates import FRAMEWORKS, LAYOUTS, offered_combinations
from runtime.instances.inprocess import make_inprocess_factory
from runtime.instances.workers import WorkerSettings
from runtime.local.run_local import Check, check_bundle
from runtime.local.samples import encode_png, sample_audio

MODELRT = Path(sys.executable).parent / "modelrt"
STEP_TIMEOUT_S = 90
CLARIFAI_SDK = importlib.util.find_spec("clarifai") is not None

# The run-local rows each model type's template must pass: its hooks, as the server calls them.
EXPECTED_HOOKS = {
    "classification": ("predict", "predict_batch"),  # batched: predict_batch serves predict
    "object-detection": ("predict",),
    "segmentation": ("predict",),
    "text-generation": ("predict", "generate"),
    "speech-recognition": ("predict", "stream"),
    "other": ("predict",),
}
# Gesund models answer Predict only, unbatched; Clarifai methods serve what their types do.
LAYOUT_HOOKS = {
    "native": EXPECTED_HOOKS,
    "gesund": dict.fromkeys(EXPECTED_HOOKS, ("predict",)),
    "clarifai": {**EXPECTED_HOOKS, "classification": ("predict",)},
}


def init(directory: Path, model_type: str, framework: str, *extra: str) -> Path:
    result = CliRunner().invoke(
        cli, ["init", str(directory), "--type", model_type, "--framework", framework, *extra]
    )
    assert result.exit_code == 0, result.output
    return directory


def build(bundle: Path, script: str = "build_model.py") -> None:
    """Run the template's build script, from another folder, as an author would."""
    done = subprocess.run(
        [sys.executable, str(bundle / script)],
        cwd=bundle.parent,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote ")


# Runs each build script as `python SCRIPT` would (as __main__, its folder first on sys.path),
# one after the other in one interpreter, so the framework is imported once.
_BUILD_EACH = """
import runpy, sys
for script in sys.argv[1:]:
    folder = script.rsplit("/", 1)[0]
    sys.path.insert(0, folder)
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.path.remove(folder)
        for name in ("processing", "backend"):  # the next template has its own
            sys.modules.pop(name, None)
"""


def build_each(scripts: list[Path], timeout_s: float) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _BUILD_EACH, *map(str, scripts)],
        cwd=scripts[0].parents[2],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == len(scripts), done.stdout


async def _check_in_process(bundle: Path) -> list[Check]:
    checks: list[Check] = []
    settings = WorkerSettings(start_timeout_s=60, hang_timeout_s=60, max_restarts=0)
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="run-local") as pool:
        factory = make_inprocess_factory(pool, asyncio.Semaphore(4))
        await check_bundle(bundle, settings, checks.append, factory)
    return checks


def expected_rows(layout: str, model_type: str) -> dict[str, str]:
    expected = dict.fromkeys(
        ("layout", "inputs", "load", *LAYOUT_HOOKS[layout][model_type]), "PASS"
    )
    if layout == "clarifai" and not CLARIFAI_SDK:
        expected["requirements"] = "WARN"  # requirements.txt lists clarifai; the stand-in serves
    return expected


def _frameworks_of(framework: str) -> list[tuple[str, str]]:
    """(layout, model type) of every template offered with ``framework``."""
    return [
        (layout, model_type)
        for layout in LAYOUTS
        for model_type, offered in offered_combinations(layout)
        if offered == framework
    ]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_every_offered_template_passes_init_build_and_run_local(
    tmp_path, monkeypatch, framework
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # Clarifai model code appends its folder
    templates = _frameworks_of(framework)
    bundles = {
        (layout, model_type): init(
            tmp_path / layout / model_type, model_type, framework, "--layout", layout
        )
        for layout, model_type in templates
    }
    build_each(
        [bundle / LAYOUTS[layout].build_script for (layout, _), bundle in bundles.items()], 200
    )
    failures = []
    for (layout, model_type), bundle in bundles.items():
        checks = asyncio.run(_check_in_process(bundle))
        found = {check.name: check.status for check in checks}
        if found != expected_rows(layout, model_type):
            failures.append(f"{layout} {model_type}:\n" + "\n".join(c.line() for c in checks))
    assert not failures, "\n\n".join(failures)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("layout", "model_type", "framework"),
    [
        ("native", "other", "other"),
        ("gesund", "object-detection", "pytorch"),
        ("clarifai", "speech-recognition", "onnx"),  # Stream: the chunks bind by position
        ("clarifai", "classification", "tensorflow"),
    ],
)
def test_the_real_build_script_and_run_local_command_pass(
    tmp_path, layout, model_type, framework
) -> None:
    bundle = init(tmp_path / f"{layout}-{model_type}", model_type, framework, "--layout", layout)
    build(bundle, LAYOUTS[layout].build_script)
    done = run_local(bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert rows(done.stdout) == expected_rows(layout, model_type), done.stdout
    assert done.stdout.splitlines()[-1] == f"{bundle}: every check passed"


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


@pytest.mark.timeout(120)
def test_platform_layout_templates_serve_through_a_real_server(start_server, tmp_path) -> None:
    store = tmp_path / "store"
    gesund = init(store / "colours", "classification", "sklearn", "--layout", "gesund")
    clarifai = init(store / "tones", "speech-recognition", "other", "--layout", "clarifai")
    build_each([gesund / "build_model.py", clarifai / "1" / "build_model.py"], STEP_TIMEOUT_S)
    server = start_server(store=store)
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    image[...] = (230, 20, 20)
    # Letter k of the tone alphabet is a tone between 250 (k + 1) and 250 (k + 2) Hz.
    audio = np.concatenate([sample_audio(0.5, 300.0), sample_audio(0.5, 800.0)])
    with Client(server.address, timeout=30) as client:
        for name in ("colours", "tones"):
            info = client.get_model(name)
            assert info.state == "READY", info.reason
        # PNG bytes reach preprocess decoded; ground truth (label 0, red) gets the loss too.
        reply = client.predict(
            "colours", {"image": encode_png(image)}, parameters={"ground_truth": [0]}
        )
        # Chunks sent as "audio" reach the stream method's only argument, input_iterator.
        chunks = ({"audio": chunk} for chunk in np.array_split(audio, 5))
        transcripts = [item.structured for item in client.stream("tones", chunks)]
    assert reply.structured["label"] == "red"
    assert reply.structured["prediction_class"] == 0
    assert 0.0 <= reply.structured["loss"] < 0.5
    assert "status" not in reply.structured  # not in the Response: dropped
    assert len(transcripts) == 6
    assert transcripts[-1] == "ac"
