"""Skips every test in tests/gpu unless this machine has a CUDA GPU that discovery can see."""

from __future__ import annotations

import pytest

from runtime.placement.devices import GpuInfo, discover_gpus


@pytest.fixture(scope="session")
def real_gpus() -> list[GpuInfo]:
    """The machine's GPUs, discovered once per session."""
    return discover_gpus()


@pytest.fixture(autouse=True)
def _needs_cuda_gpu(real_gpus: list[GpuInfo]) -> None:
    if not real_gpus:
        pytest.skip("needs a CUDA GPU")


# Real servers for the GPU tests, as in the integration tests.
from tests.integration.conftest import start_server  # noqa: E402, F401
