"""The dispatch tables of bundle templates (model types, frameworks, layouts) and their lookup.

Adding a framework (tensorflow/keras) or a layout (gesund, clarifai) is one module and one entry
in its table; every model type a framework lists is then offered with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from clients.templates.frameworks import onnx, plain, pytorch, sklearn
from clients.templates.native import render_native
from clients.templates.spec import FrameworkTemplate, ModelTypeTemplate, TemplateError
from clients.templates.types import (
    classification,
    detection,
    segmentation,
    speech,
    tensor,
    text_generation,
)

#: Renders every file of a bundle, by relative path, for one model type and framework.
LayoutRenderer = Callable[[ModelTypeTemplate, FrameworkTemplate, str], dict[str, str]]

MODEL_TYPES: Mapping[str, ModelTypeTemplate] = {
    template.name: template
    for template in (
        classification.TEMPLATE,
        detection.TEMPLATE,
        segmentation.TEMPLATE,
        text_generation.TEMPLATE,
        speech.TEMPLATE,
        tensor.TEMPLATE,
    )
}

FRAMEWORKS: Mapping[str, FrameworkTemplate] = {
    template.name: template
    for template in (onnx.TEMPLATE, pytorch.TEMPLATE, sklearn.TEMPLATE, plain.TEMPLATE)
}

# Only layouts whose loader exists are offered: a template must run as it is.
LAYOUTS: Mapping[str, LayoutRenderer] = {"native": render_native}


def offered_combinations() -> list[tuple[str, str]]:
    """Every (model type, framework) pair a template is offered for.

    >>> ("classification", "onnx") in offered_combinations()
    True
    """
    return [
        (model_type, framework)
        for model_type in MODEL_TYPES
        for framework, template in FRAMEWORKS.items()
        if template.supports(model_type)
    ]


def _pick(table: Mapping[str, object], kind: str, name: str) -> None:
    if name not in table:
        raise TemplateError(f"unknown {kind} {name!r}; choose one of: {', '.join(table)}")


def render(model_type: str, framework: str, name: str, layout: str = "native") -> dict[str, str]:
    """Every file of the template for ``model_type`` and ``framework``, by relative path.

    >>> render("other", "onnx", "demo")["requirements.txt"].splitlines()[0]
    'numpy>=1.26'
    """
    _pick(MODEL_TYPES, "model type", model_type)
    _pick(FRAMEWORKS, "framework", framework)
    _pick(LAYOUTS, "layout", layout)
    if not FRAMEWORKS[framework].supports(model_type):
        offered = ", ".join(f"{t}/{f}" for t, f in offered_combinations())
        raise TemplateError(
            f"no template for {model_type} with {framework}; offered (type/framework): {offered}"
        )
    return LAYOUTS[layout](MODEL_TYPES[model_type], FRAMEWORKS[framework], name)
