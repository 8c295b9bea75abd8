"""The README's Configuration section matches the code: the settings table and the reasons."""

from __future__ import annotations

import re

from runtime.settings_doc import END, START, settings_table
from tests.unit.docs.reasons import ROOT, sent_reasons

README = (ROOT / "README.md").read_text(encoding="utf-8")
_ROW = re.compile(r"^\| `([A-Z_]+)` \| `([A-Z_]+)` \| (.+) \|$", re.MULTILINE)


def _reason_rows() -> dict[str, str]:
    section = README.split("### Error reasons", 1)[1].split("\n#", 1)[0]
    return {reason: status for reason, status, _ in _ROW.findall(section)}


def test_the_settings_table_is_the_one_the_fields_give() -> None:
    table = README.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == settings_table(), (
        "the README's settings table differs from ServerSettings: run "
        "`python -m runtime.settings_doc README.md`"
    )


def test_every_reason_the_server_sends_is_in_the_table_with_its_status() -> None:
    rows = _reason_rows()
    missing = sorted(set(sent_reasons()) - set(rows))
    assert not missing, f"reasons missing from the README's Error reasons table: {missing}"
    for reason, statuses in sent_reasons().items():
        if statuses:
            assert rows[reason] in statuses, f"{reason} is sent as {statuses}, not {rows[reason]}"


def test_the_table_lists_no_reason_the_server_no_longer_sends() -> None:
    stale = sorted(set(_reason_rows()) - set(sent_reasons()))
    assert not stale, f"the README lists reasons no code sends: {stale}"
