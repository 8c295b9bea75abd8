"""Checks an uploaded bundle in a throwaway worker process before anything is committed.

The child imports the bundle's code exactly as a worker would (config, layout, requirements,
registration and hook signatures) but does not load weights. Bundle code never runs in the
server process, so a bundle that crashes, hangs or exits on import fails only its upload.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from loader.bundle import import_bundle, prepare_bundle
from loader.errors import BundleError
from loader.unpack import UnpackLimits
from registry.errors import ErrorCode, ModelrtError
from runtime.instances.worker_main import die_with_parent
from runtime.instances.worker_protocol import envelope, error_from
from runtime.instances.workers import start_process

logger = logging.getLogger(__name__)
_CONTEXT = multiprocessing.get_context("spawn")
_JOIN_S = 5.0


@dataclass(frozen=True)
class ValidatedBundle:
    """What the validating process found in the bundle."""

    name: str
    format: str
    model_class: str
    capabilities: tuple[str, ...]
    warnings: tuple[str, ...] = ()


class ValidationFailedError(ModelrtError):
    """The bundle's code could not be imported and checked (the reason says why)."""

    code = ErrorCode.INVALID_ARGUMENT
    reason = "INVALID_BUNDLE"


def _check(root: str, strict_requirements: bool) -> dict[str, Any]:
    prepared = prepare_bundle(Path(root), Path(root).parent, UnpackLimits())
    spec = import_bundle(prepared, strict_requirements=strict_requirements)
    return {
        "name": prepared.name,
        "format": prepared.format,
        "model_class": spec.runner_cls.__qualname__,
        "capabilities": list(spec.capabilities),
        "warnings": list(spec.warnings),
    }


def validate_entry(
    connection: Connection, root: str, strict_requirements: bool, parent_pid: int
) -> None:
    """Entry point of the validating process: one dict back, ``error`` set on failure."""
    die_with_parent(parent_pid)
    try:
        result: dict[str, Any] = {"bundle": _check(root, strict_requirements)}
    except ModelrtError as exc:
        result = {"error": envelope(exc)}
    except BaseException as exc:  # bundle code may raise anything, SystemExit included
        message = f"checking the bundle failed: {type(exc).__name__}: {exc}"
        result = {"error": envelope(ValidationFailedError(message))}
    connection.send(result)
    connection.close()


async def validate_bundle(
    root: Path, *, python: str | None, strict_requirements: bool, timeout_s: float
) -> ValidatedBundle:
    """Import the bundle in ``root`` in a new process (under ``python`` when given) and check it.

    >>> await validate_bundle(Path("bundle"), python=None, strict_requirements=False,
    ...                       timeout_s=60)  # doctest: +SKIP
    ValidatedBundle(name='iris', format='native', model_class='Iris', ...)
    """
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(
        target=validate_entry,
        args=(sender, str(root), strict_requirements, os.getpid()),
        name="modelrt-validate",
        daemon=True,
    )
    answered = False
    try:
        await asyncio.to_thread(start_process, process, python)
        sender.close()
        try:
            result = await asyncio.wait_for(asyncio.to_thread(receiver.recv), timeout_s)
            answered = True
        except TimeoutError:
            raise BundleError(
                f"checking the bundle took over {timeout_s:g}s: importing model.py must not block"
            ) from None
        except (EOFError, OSError):
            await asyncio.to_thread(process.join, _JOIN_S)
            raise BundleError(
                f"importing the bundle ended the checking process (exit code {process.exitcode})"
            ) from None
    finally:
        await asyncio.to_thread(_end, process, answered)
        receiver.close()
    if "error" in result:
        raise error_from(result["error"])
    found = result["bundle"]
    return ValidatedBundle(
        name=found["name"],
        format=found["format"],
        model_class=found["model_class"],
        capabilities=tuple(found["capabilities"]),
        warnings=tuple(found["warnings"]),
    )


def _end(process: Any, answered: bool) -> None:
    """Reap the checking process: it exits by itself once it has answered; else kill it."""
    if process.pid is None:  # never started
        return
    if answered:
        process.join(_JOIN_S)
    if process.is_alive():
        process.kill()
        process.join(_JOIN_S)
