"""Fixtures of the playground's browser tests: one server and one chromium per module, a fresh
page per test, and a screenshot of the page when a test fails (its path is in the report)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bundle_factory import write_bundle
from tests.e2e.playground_env import CHROMIUM, Served, build_store, chromium, serve, tone_wav


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    page = getattr(item, "funcargs", {}).get("page")
    if report.when != "call" or not report.failed or page is None:
        return
    folder = Path(tempfile.mkdtemp(prefix="playground-failure-"))
    shot = folder / f"{item.name}.png"
    try:
        page.screenshot(path=str(shot), full_page=True)
        (folder / f"{item.name}.html").write_text(page.content(), encoding="utf-8")
        report.sections.append(("playground screenshot", f"saved to {shot}"))
    except Exception as exc:  # the page may be gone; the failure itself matters more
        report.sections.append(("playground screenshot", f"none: {exc}"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("playground")


@pytest.fixture(scope="module")
def microphone_wav(workdir: Path) -> Path:
    """What the fake microphone plays, on a loop: "hi" in the tone alphabet."""
    return tone_wav(workdir / "microphone.wav", "hi")


BROKEN = """
    from registry import ModelRunner, register

    @register("broken")
    class Broken(ModelRunner):
        def load_model(self):
            raise RuntimeError("the weights are missing on purpose")

        def predict(self, request):
            return {}
"""


SUMMER = """
    import numpy as np
    from registry import ModelRunner, register

    @register("summer")
    class Summer(ModelRunner):
        def predict(self, request):
            total = float(np.asarray(request["x"]).sum())
            return {"sum": total, "scale": request.param("scale", 1)}
"""


ECHO = """
    from registry import ModelRunner, register

    @register("echo")
    class Echo(ModelRunner):
        def predict(self, request):
            values = [str(value) for value in request.inputs.values()]
            return {"names": sorted(request.inputs), "values": values}
"""


@pytest.fixture(scope="module")
def served(workdir: Path) -> Iterator[Served]:
    """The examples of STORE_EXAMPLES, plus "broken", a bundle whose load fails, and "summer",
    which takes a plain float tensor, and "echo", which declares no inputs."""
    store = build_store(workdir / "store")
    write_bundle(store, "broken", BROKEN, config={"version": "1", "description": "Never loads."})
    tensor = {"name": "x", "kind": "tensor", "dtype": "float32", "shape": [-1]}
    write_bundle(store, "summer", SUMMER, config={"version": "1", "inputs": [tensor]})
    write_bundle(store, "echo", ECHO, config={"version": "1"})  # declares no inputs
    with serve(store, workdir) as running:
        yield running


@pytest.fixture(scope="module")
def browser(microphone_wav: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed: `make browser` installs Debian's chromium")
    with chromium([f"--use-file-for-fake-audio-capture={microphone_wav}"]) as launched:
        yield launched


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh page on the playground; JavaScript errors, and any request that leaves the server
    (a CDN, the internet), fail the test."""
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    errors: list[str] = []
    elsewhere: list[str] = []
    local = ("data:", "blob:", served.url.replace("http:", "ws:"), served.url)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("request", lambda r: None if r.url.startswith(local) else elsewhere.append(r.url))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert elsewhere == [], f"requests beyond the server: {elsewhere}"
