"""Writes Clarifai-style model folders for tests: config.yaml, requirements.txt, 1/model.py."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def clarifai_config(
    model_id: str, model_type_id: str = "text-to-text", **sections: Any
) -> dict[str, Any]:
    """A config.yaml mapping as the platform writes it (user_id and app_id included)."""
    model = {"id": model_id, "user_id": "acme", "app_id": "main", "model_type_id": model_type_id}
    config: dict[str, Any] = {"model": model, "build_info": {"python_version": "3.11"}}
    config["inference_compute_info"] = {
        "cpu_limit": "1",
        "cpu_memory": "1Gi",
        "num_accelerators": 0,
    }
    config.update(sections)
    return config


def write_clarifai(
    root: Path,
    model_id: str,
    model_py: str,
    *,
    model_type_id: str = "text-to-text",
    config: Mapping[str, Any] | None = None,
    files: Mapping[str, str | bytes] | None = None,
    top_level: bool = False,
    requirements: str = "clarifai>=11.5\nclarifai-grpc>=11.5\n",
) -> Path:
    """Create ``root/<model_id>/`` with config.yaml, requirements.txt and 1/model.py (or
    model.py at the top with ``top_level``); ``config`` adds or replaces config sections."""
    folder = root / model_id
    code = folder / ("model.py" if top_level else "1/model.py")
    code.parent.mkdir(parents=True, exist_ok=True)
    code.write_text(textwrap.dedent(model_py), encoding="utf-8")
    data = clarifai_config(model_id, model_type_id, **dict(config or {}))
    (folder / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (folder / "requirements.txt").write_text(requirements, encoding="utf-8")
    for relative, content in (files or {}).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return folder
