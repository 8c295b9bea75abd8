"""The README's tour bundle, copied verbatim from the README, loads and answers as documented."""

from __future__ import annotations

import re
from pathlib import Path

from clients import Client

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(marker: str) -> str:
    """The fenced code block of the README whose first line is ``marker``."""
    for block in re.findall(r"```[a-z]*\n(.*?)```", README.read_text(), flags=re.S):
        if block.startswith(marker):
            return str(block)
    raise AssertionError(f"README has no code block starting with {marker!r}")


def test_readme_tour_bundle_serves_predict_and_generate(start_server, tmp_path: Path) -> None:
    bundle = tmp_path / "store" / "my-bundle"
    bundle.mkdir(parents=True)
    (bundle / "model.py").write_text(_block("# my-bundle/model.py"))
    (bundle / "modelrt.yaml").write_text(_block("# my-bundle/modelrt.yaml"))
    server = start_server(tmp_path / "store")
    with Client(server.address, timeout=10) as client:
        assert client.get_model("shout").state == "READY"
        assert client.predict("shout", {"text": "hello"}).structured == {
            "text": "HELLO!!",
            "length": 7,
        }
        items = list(client.generate("shout", {"text": "a bc"}))
        assert [item.error for item in items] == [None, None]
        assert [item.structured for item in items] == [
            {"text": "A", "length": 1},
            {"text": "BC", "length": 2},
        ]
