"""The model table: every model version the engine knows, its state changes and who hears of them.

Holds the records by (name, version), the cache of the newest version per name that calls naming
no version use, and the listeners told when a version changes state or a model is forgotten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from runtime.engine.models import ModelRecord, ModelState, check_model_ref
from runtime.errors import ModelNotFoundError

logger = logging.getLogger(__name__)
Listener = Callable[[ModelRecord], None]


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


class ModelTable:
    """The records of the model versions known to the engine.

    >>> table = ModelTable()
    >>> table.put(ModelRecord("iris", "1", Path("iris")))  # doctest: +SKIP
    >>> table.get("iris").version  # doctest: +SKIP
    '1'
    """

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], ModelRecord] = {}
        # lookup(name) for calls that name no version, cached until a record or state changes.
        self._newest: dict[str, ModelRecord] = {}
        self._listeners: list[Listener] = []
        self._forget_listeners: list[Callable[[str], None]] = []

    # -- listeners -----------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(record)`` whenever a model version changes state."""
        self._listeners.append(listener)

    def on_forget(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` when the last version of a model is deleted."""
        self._forget_listeners.append(listener)

    def notify(self, record: ModelRecord) -> None:
        """Tell the listeners that ``record`` changed (its state, or its instances up)."""
        for listener in self._listeners:
            listener(record)

    def forget_if_gone(self, name: str) -> None:
        """Tell the forget listeners about ``name`` once no version of it is left."""
        if not self.records(name):
            for listener in self._forget_listeners:
                listener(name)

    # -- changes -------------------------------------------------------------------------------

    def put(self, record: ModelRecord) -> None:
        """Add ``record`` (or replace the one under its name and version)."""
        self._records[record.key] = record
        self._newest.clear()

    def drop(self, key: tuple[str, str]) -> None:
        """Forget the version under ``key``, if known."""
        self._records.pop(key, None)
        self._newest.clear()

    def set_state(self, record: ModelRecord, state: ModelState, reason: str = "") -> None:
        """Move ``record`` to ``state``, log it and tell the listeners."""
        record.set_state(state, reason)
        self._newest.clear()
        log = logger.warning if state is ModelState.FAILED else logger.info
        log("model %s:%s is %s%s", record.name, record.version, state, f": {reason}" * bool(reason))
        self.notify(record)

    # -- reading -------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[ModelRecord]:
        """Every record, in the order they were added."""
        return iter(self._records.values())

    def at(self, key: tuple[str, str]) -> ModelRecord | None:
        """The record known under ``key`` (name, version), if any."""
        return self._records.get(key)

    def records(self, name: str = "") -> list[ModelRecord]:
        """Every known model version (of ``name`` when given), sorted by name then version."""
        chosen = [r for r in self._records.values() if not name or r.name == name]
        return sorted(chosen, key=lambda r: (r.name, _version_key(r.version)))

    def get(self, name: str, version: str = "") -> ModelRecord:
        """The version asked for; with no version the newest READY one, else the newest."""
        check_model_ref(name, version)
        versions = self.records(name)
        if not versions:
            raise ModelNotFoundError(f"model {name!r} is not known", metadata={"model": name})
        if version:
            for record in versions:
                if record.version == version:
                    return record
            known = ", ".join(r.version for r in versions)
            raise ModelNotFoundError(
                f"model {name!r} has no version {version!r} (versions: {known})",
                metadata={"model": name, "version": version},
            )
        ready = [r for r in versions if r.state is ModelState.READY]
        return (ready or versions)[-1]

    def lookup(self, name: str, version: str) -> ModelRecord:
        """As ``get``, from the cache on the call path: no sorting while nothing changes."""
        found = self._records.get((name, version)) if version else self._newest.get(name)
        if found is None:
            found = self.get(name, version)
            if not version:
                self._newest[name] = found
        return found
