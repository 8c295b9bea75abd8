"""Recognises a Clarifai-style folder and finds its model module; runs no bundle code."""

from __future__ import annotations

from pathlib import Path

import yaml

from loader.clarifai.config import CONFIG_NAME
from loader.errors import BundleError
from loader.layout import Layout

#: Where the platform looks for the model code, in its order, as bundle module names.
MODEL_MODULES = (("model.py", "model"), ("1/model.py", "1.model"))


def clarifai_layout(root: Path) -> Layout | None:
    """A folder whose config.yaml has a ``model:`` mapping with an ``id`` (native configs never do).

    An unreadable config.yaml is left to the other formats, which report it.
    """
    config = root / CONFIG_NAME
    if not config.is_file():
        return None
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or "id" not in model:
        return None
    return Layout("clarifai", root, config)


def model_module(root: Path) -> str:
    """The bundle module holding the model class: "model" (top level) or "1.model".

    >>> model_module(Path("examples/clarifai-llm"))  # doctest: +SKIP
    '1.model'
    """
    for relative, module in MODEL_MODULES:
        if (root / relative).is_file():
            return module
    raise BundleError(
        f"{root.name}: a Clarifai-style folder needs its model code in 1/model.py"
        " (or model.py next to config.yaml); found neither"
    )
