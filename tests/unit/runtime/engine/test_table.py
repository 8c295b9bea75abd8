"""Tests for runtime.engine.table: which version a name resolves to, the cache, the listeners."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.errors import ModelrtError
from runtime.engine.models import ModelRecord, ModelState
from runtime.engine.table import ModelTable


def _table(*versions: tuple[str, str, ModelState]) -> ModelTable:
    table = ModelTable()
    for name, version, state in versions:
        record = ModelRecord(name, version, Path(name))
        table.put(record)
        table.set_state(record, state)
    return table


def test_no_version_means_the_newest_ready_one_with_versions_ordered_as_numbers() -> None:
    table = _table(
        ("iris", "9", ModelState.READY),
        ("iris", "10", ModelState.READY),
        ("iris", "11", ModelState.FAILED),
    )
    assert table.get("iris").version == "10"
    assert table.lookup("iris", "").version == "10"
    assert [r.version for r in table.records("iris")] == ["9", "10", "11"]


def test_no_ready_version_means_the_newest_one() -> None:
    table = _table(("iris", "1", ModelState.FAILED), ("iris", "2", ModelState.UNLOADED))
    assert table.lookup("iris", "").version == "2"


def test_the_cached_newest_version_follows_state_changes_and_drops() -> None:
    table = _table(("iris", "1", ModelState.READY), ("iris", "2", ModelState.LOADING))
    assert table.lookup("iris", "").version == "1"  # now cached
    (_, second) = table.records("iris")
    table.set_state(second, ModelState.READY)
    assert table.lookup("iris", "").version == "2"
    table.drop(second.key)
    assert table.lookup("iris", "").version == "1"


def test_an_unknown_name_or_version_is_not_found() -> None:
    table = _table(("iris", "1", ModelState.READY))
    for name, version in [("wine", ""), ("iris", "2")]:
        with pytest.raises(ModelrtError) as missing:
            table.lookup(name, version)
        assert missing.value.reason == "MODEL_NOT_FOUND"
    with pytest.raises(ModelrtError) as refused:
        table.get("")
    assert refused.value.reason == "INVALID_MODEL_NAME"


def test_listeners_hear_each_state_change_and_the_forget_of_the_last_version() -> None:
    table = ModelTable()
    changes: list[tuple[str, ModelState]] = []
    forgotten: list[str] = []
    table.add_listener(lambda r: changes.append((r.version, r.state)))
    table.on_forget(forgotten.append)
    first, second = ModelRecord("iris", "1", Path("a")), ModelRecord("iris", "2", Path("b"))
    for record in (first, second):
        table.put(record)
        table.set_state(record, ModelState.READY)
    assert changes == [("1", ModelState.READY), ("2", ModelState.READY)]
    table.drop(first.key)
    table.forget_if_gone("iris")
    assert forgotten == []  # version 2 is still there
    table.drop(second.key)
    table.forget_if_gone("iris")
    assert forgotten == ["iris"]
    assert table.at(second.key) is None
