"""README's "Development" map and its diagram match runtime/'s rooms and root modules."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()
ROOMS = sorted(path.parent.name for path in (ROOT / "runtime").glob("*/__init__.py"))
ROOT_MODULES = sorted(
    path.name for path in (ROOT / "runtime").glob("*.py") if not path.name.startswith("__")
)


def development_map() -> str:
    section = README.split("\n## Development\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def test_the_map_names_every_room_and_every_root_module_of_runtime() -> None:
    block = development_map()
    assert ROOMS, "runtime/ has no rooms"
    missing = [room for room in ROOMS if f"\n  {room}/ " not in block]
    missing += [name for name in ROOT_MODULES if name not in block]
    assert missing == []


def test_every_room_has_a_one_line_docstring_and_nothing_else() -> None:
    for room in ROOMS:
        text = (ROOT / "runtime" / room / "__init__.py").read_text()
        assert text.startswith('"""'), room
        assert text.count("\n") == 1, room


def test_the_diagram_and_its_source_name_every_room() -> None:
    source = (ROOT / "docs" / "architecture.dot").read_text()
    rendered = (ROOT / "docs" / "architecture.svg").read_text()
    assert "](docs/architecture.svg)" in README
    for room in ROOMS:
        assert f"runtime/{room}/" in source, room
        assert f"runtime/{room}/" in rendered, room
