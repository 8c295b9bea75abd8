"""``modelrt run-local``: checks a bundle without a server, the way the server would run it.

It validates the layout and config, loads the bundle in a worker process, calls each hook the
model implements with a sample input suited to its type, and prints one PASS/FAIL line per step
with its time. The exit code is 1 when any step fails; the worker is stopped in every case.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import click

from loader.bundle import PreparedBundle, prepare_bundle
from loader.clarifai.scan import input_hints
from loader.unpack import UnpackLimits
from registry.errors import ModelrtError
from runtime.errors import SERVER_LOG_HINT
from runtime.instances.executor import (
    Executor,
    ExecutorFactory,
    InstanceEvent,
    InstanceSpec,
    Item,
    LoadedModel,
)
from runtime.instances.inputs import check_inputs
from runtime.instances.outputs import ItemFailure, ModelOutput
from runtime.instances.payload import StreamInput
from runtime.instances.wire import Answer, encode_request, read_answer
from runtime.instances.workers import WorkerExecutor, WorkerSettings
from runtime.local.samples import Sample, build_sample, describe_value

logger = logging.getLogger(__name__)
MAX_ITEMS = 1000  # a generate or stream check stops reading after this many items
LOCAL_LOG_HINT = "its traceback is in the worker's log above (stderr)"
_SUMMARY_CHARS = 100


class CheckError(Exception):
    """A step of the check failed; the message says why."""


@dataclass(frozen=True)
class Check:
    """The outcome of one step: ``PASS  predict   14 ms  {"label": "red", ...}``.

    >>> Check("predict", "FAIL", "INTERNAL: model 'm' raised ValueError").line()
    "FAIL  predict: INTERNAL: model 'm' raised ValueError"
    """

    name: str
    status: Literal["PASS", "FAIL", "WARN"]
    detail: str
    ms: float | None = None

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"

    def line(self) -> str:
        if self.status != "PASS":
            return f"{self.status}  {self.name}: {self.detail}"
        took = f"{self.ms:>7.0f} ms" if self.ms is not None else " " * 10
        return f"PASS  {self.name:<14}{took}  {self.detail}".rstrip()


def summarize(item: ModelOutput) -> str:
    """One line for an answer: its structured JSON (cut short) and its named outputs."""
    parts = []
    if item.structured is not None:
        text = json.dumps(item.structured, ensure_ascii=False)
        parts.append(text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…")
    parts.extend(f"{name}: {describe_value(value)}" for name, value in item.outputs.items())
    return "  ".join(parts) or "(empty answer)"


def _answer(item: Item | Answer) -> ModelOutput:
    """An item or Predict answer as a ModelOutput (decoded as a client would); failures raise."""
    if isinstance(item, ItemFailure):
        raise CheckError(_reason(item.error))
    return item if isinstance(item, ModelOutput) else read_answer(item)


def _reason(error: BaseException) -> str:
    if isinstance(error, ModelrtError):
        # There is no server here: the worker logs the traceback to this command's stderr.
        return f"{error.code}: {error.message.replace(SERVER_LOG_HINT, LOCAL_LOG_HINT)}"
    return f"{type(error).__name__}: {error}"


async def _predict(executor: Executor, sample: Sample) -> str:
    answers: dict[int, Answer] = {}
    request = encode_request(sample.inputs, sample.parameters, "run-local-predict")
    await executor.predict_each([request], answers.__setitem__)
    return summarize(_answer(answers[0]))


async def _predict_batch(executor: Executor, sample: Sample) -> str:
    requests = [
        encode_request(sample.inputs, sample.parameters, f"run-local-batch-{index}")
        for index in range(2)
    ]
    items = [_answer(item) for item in await executor.predict_batch(requests)]
    if len(items) != len(requests):
        raise CheckError(f"{len(requests)} requests got {len(items)} answers")
    return f"{len(requests)} requests, {len(items)} answers; first: {summarize(items[0])}"


async def _items(produced: AsyncIterator[Item]) -> str:
    count, last = 0, None
    async for item in produced:
        last = _answer(item)
        count += 1
        if count >= MAX_ITEMS:
            break
    if last is None:
        return "0 items"
    return f"{count} item{'s' if count != 1 else ''}; last: {summarize(last)}"


async def _generate(executor: Executor, sample: Sample) -> str:
    request = encode_request(sample.for_generate, sample.parameters, "run-local-generate")
    produced = executor.generate(request)
    try:
        return await _items(produced)
    finally:
        await produced.aclose()


async def _stream(executor: Executor, sample: Sample) -> str:
    async def requests() -> AsyncIterator[StreamInput]:
        for index, inputs in enumerate(sample.stream):
            yield encode_request(inputs, sample.parameters, f"run-local-stream-{index}")

    produced = executor.stream(requests())
    try:
        return f"{len(sample.stream)} requests, {await _items(produced)}"
    finally:
        await produced.aclose()


HookCheck = Callable[[Executor, Sample], Awaitable[str]]


def hook_checks(capabilities: tuple[str, ...], batched: bool) -> list[tuple[str, HookCheck]]:
    """The checks for what a model answers; predict_batch only when its config batches."""
    checks: list[tuple[str, HookCheck]] = []
    if "predict" in capabilities:
        checks.append(("predict", _predict))
        if batched:
            checks.append(("predict_batch", _predict_batch))
    if "generate" in capabilities:
        checks.append(("generate", _generate))
    if "stream" in capabilities:
        checks.append(("stream", _stream))
    return checks


async def _timed(name: str, step: Awaitable[str], limit_s: float) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit_s):
            detail = await step
    except TimeoutError:
        return Check(name, "FAIL", f"no answer within {limit_s:g}s")
    except CheckError as exc:
        return Check(name, "FAIL", str(exc))
    except Exception as exc:  # the worker's errors, and anything a broken bundle causes
        return Check(name, "FAIL", _reason(exc))
    return Check(name, "PASS", detail, (time.perf_counter() - started) * 1000)


async def _prepare(source: Path, work_dir: Path) -> PreparedBundle:
    try:
        return await asyncio.to_thread(prepare_bundle, source, work_dir, UnpackLimits())
    except ModelrtError as exc:
        raise CheckError(exc.message) from None


def _sample(prepared: PreparedBundle) -> Sample:
    # A Clarifai method says what it takes in its signature; other formats in their config.
    hints = input_hints(prepared.root) if prepared.format == "clarifai" else None
    sample = build_sample(prepared.config, hints)
    try:
        check_inputs(sample.inputs, prepared.config.inputs)
    except ModelrtError as exc:
        raise CheckError(f"no sample input meets the declared inputs: {exc.message}") from None
    return sample


async def _load(executor: Executor, loaded: list[LoadedModel]) -> str:
    loaded.append(await executor.start())
    return f"answers {', '.join(loaded[0].capabilities)}"


async def _run_hooks(
    prepared: PreparedBundle,
    sample: Sample,
    settings: WorkerSettings,
    add: Callable[[Check], bool],
    executor_for: ExecutorFactory,
) -> bool:
    # CPU only, as the server places an instance without a GPU; no restarts: a crash is a FAIL.
    spec = InstanceSpec(prepared, device="cpu", env={"CUDA_VISIBLE_DEVICES": ""})
    executor = executor_for(spec)
    down: list[InstanceEvent] = []
    executor.watch(down.append)  # a crash or hang ends the worker for good (no restarts)
    loaded: list[LoadedModel] = []
    try:
        load = await _timed("load", _load(executor, loaded), settings.start_timeout_s + 5)
        if not add(load):
            return False
        for warning in loaded[0].warnings:
            add(Check("requirements", "WARN", warning))
        passed = True
        batched = prepared.config.batching.max_batch_size > 1
        for name, check in hook_checks(loaded[0].capabilities, batched):
            if down:
                add(Check(name, "FAIL", f"not run: the worker is down ({down[0].reason})"))
                passed = False
                continue
            step = check(executor, sample)
            passed = add(await _timed(name, step, settings.hang_timeout_s)) and passed
        return passed
    finally:
        await executor.stop()


async def check_bundle(
    source: Path,
    settings: WorkerSettings,
    report: Callable[[Check], None],
    executor_for: ExecutorFactory | None = None,
) -> bool:
    """Run every check of the bundle at ``source`` (a folder or a zip), reporting each as it
    ends; whether all passed. ``settings`` bound the load and each hook call.

    The bundle runs in a worker process, as the server runs it, unless ``executor_for`` builds
    another executor (``runtime.inprocess.make_inprocess_factory`` runs it in this process).
    """
    if executor_for is None:
        executor_for = partial(WorkerExecutor, settings=settings)

    def add(check: Check) -> bool:
        report(check)
        return check.passed

    with tempfile.TemporaryDirectory(prefix="modelrt-run-local-") as work_dir:
        try:
            prepared = await _prepare(source, Path(work_dir))
        except CheckError as exc:
            return add(Check("layout", "FAIL", str(exc)))
        config = prepared.config
        add(Check("layout", "PASS", f"{prepared.format} bundle {config.name!r} version "
                  f"{config.version}: {config.model_type}, {config.framework}"))  # fmt: skip
        try:
            sample = _sample(prepared)
        except CheckError as exc:
            return add(Check("inputs", "FAIL", str(exc)))
        add(Check("inputs", "PASS", sample.describe()))
        return await _run_hooks(prepared, sample, settings, add, executor_for)


@click.command("run-local")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--timeout", "timeout_s", type=float, default=120.0, show_default=True,
    help="Seconds the load, and each hook call, may take.",
)  # fmt: skip
@click.option(
    "--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="WARNING",
    show_default=True, help="Log level of the worker (its log goes to stderr).",
)  # fmt: skip
def run_local(path: Path, timeout_s: float, log_level: str) -> None:
    """Check the bundle at PATH (a folder or a zip) without a server.

    Validates its layout and config, loads it in a worker process, and calls each hook it
    implements with a sample input suited to its model type. Prints PASS or FAIL per step with
    its time; the exit code is 1 when any step fails.
    """
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    settings = WorkerSettings(
        start_timeout_s=timeout_s, hang_timeout_s=timeout_s, max_restarts=0, log_level=log_level
    )
    # The global --json of `modelrt` (this command is its plugin): one JSON object at the end.
    json_output = bool(click.get_current_context().find_root().params.get("json_output"))
    checks: list[Check] = []

    def report(check: Check) -> None:
        checks.append(check)
        if not json_output:
            click.echo(check.line())

    asyncio.run(check_bundle(path, settings, report))
    failed = [check.name for check in checks if not check.passed]
    if json_output:
        click.echo(json.dumps({
            "path": str(path), "passed": not failed,
            "checks": [dataclasses.asdict(check) for check in checks],
        }, ensure_ascii=False))  # fmt: skip
    if failed:
        if not json_output:
            click.echo(f"error: {path}: failed {', '.join(failed)}", err=True)
        raise click.exceptions.Exit(1)
    if not json_output:
        click.echo(f"{path}: every check passed")
