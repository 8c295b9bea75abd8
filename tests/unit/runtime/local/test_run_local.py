"""run-local's report lines and which hooks it checks."""

from __future__ import annotations

import numpy as np

from runtime.instances.outputs import ModelOutput
from runtime.local.run_local import Check, hook_checks, summarize


def test_pass_line_has_the_time_and_the_detail_and_fail_line_the_reason() -> None:
    assert Check("predict", "PASS", '{"label": "red"}', 14.2).line() == (
        'PASS  predict            14 ms  {"label": "red"}'
    )
    assert Check("generate", "FAIL", "INTERNAL: boom").line() == "FAIL  generate: INTERNAL: boom"
    assert Check("requirements", "WARN", "six is missing").line() == (
        "WARN  requirements: six is missing"
    )
    assert Check("requirements", "WARN", "x").passed
    assert not Check("load", "FAIL", "x").passed


def test_summary_shows_structured_output_cut_short_and_named_outputs() -> None:
    item = ModelOutput(
        outputs={"mask": np.zeros((2, 3), np.uint8), "png": b"1234"},
        structured={"text": "x" * 200},
    )
    summary = summarize(item)
    assert summary.startswith('{"text": "xxx')
    assert "…" in summary
    assert summary.endswith("mask: uint8[2x3]  png: 4 bytes")
    assert summarize(ModelOutput()) == "(empty answer)"


def test_hooks_checked_follow_the_capabilities_and_batching() -> None:
    names = [name for name, _ in hook_checks(("predict", "generate", "stream"), batched=False)]
    assert names == ["predict", "generate", "stream"]
    batched = [name for name, _ in hook_checks(("predict",), batched=True)]
    assert batched == ["predict", "predict_batch"]
    assert [name for name, _ in hook_checks(("stream",), batched=True)] == ["stream"]
