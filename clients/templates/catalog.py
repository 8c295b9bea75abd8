"""The dispatch tables of bundle templates (model types, frameworks, layouts) and their lookup.

Adding a framework is one module and one entry in its table; every model type it lists is then
offered with it in every layout that takes the framework. A layout is one module and one entry
too, and offers the types that bring their code for it (see spec.ModelTypeTemplate).
"""

from __future__ import annotations

from collections.abc import Mapping

from clients.templates import clarifai, gesund, native
from clients.templates.frameworks import keras, onnx, plain, pytorch, sklearn, tensorflow
from clients.templates.spec import (
    FrameworkTemplate,
    LayoutTemplate,
    ModelTypeTemplate,
    TemplateError,
)
from clients.templates.types import (
    classification,
    detection,
    segmentation,
    speech,
    tensor,
    text_generation,
)

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
    for template in (
        onnx.TEMPLATE,
        pytorch.TEMPLATE,
        tensorflow.TEMPLATE,
        keras.TEMPLATE,
        sklearn.TEMPLATE,
        plain.TEMPLATE,
    )
}

# Only layouts whose loader exists are offered: a template must run as it is.
LAYOUTS: Mapping[str, LayoutTemplate] = {
    layout.name: layout for layout in (native.LAYOUT, gesund.LAYOUT, clarifai.LAYOUT)
}


def offered_combinations(layout: str = "native") -> list[tuple[str, str]]:
    """Every (model type, framework) pair a template is offered for in ``layout``.

    >>> ("classification", "onnx") in offered_combinations()
    True
    >>> ("text-generation", "onnx") in offered_combinations("gesund")
    False
    """
    chosen = LAYOUTS[layout]
    return [
        (model_type, framework)
        for model_type, type_template in MODEL_TYPES.items()
        if chosen.offers_type(type_template)
        for framework, template in FRAMEWORKS.items()
        if template.supports(model_type) and chosen.supports_framework(framework)
    ]


def describe_offered(layout: str) -> str:
    """What ``layout`` offers, one "type: frameworks" entry per model type.

    >>> describe_offered("gesund").split("; ")[0]
    'classification: onnx, pytorch, tensorflow, keras, sklearn'
    """
    by_type: dict[str, list[str]] = {}
    for model_type, framework in offered_combinations(layout):
        by_type.setdefault(model_type, []).append(framework)
    return "; ".join(f"{t}: {', '.join(f)}" for t, f in by_type.items())


def _pick(table: Mapping[str, object], kind: str, name: str) -> None:
    if name not in table:
        raise TemplateError(f"unknown {kind} {name!r}; choose one of: {', '.join(table)}")


def render(model_type: str, framework: str, name: str, layout: str = "native") -> dict[str, str]:
    """Every file of the template for ``model_type`` and ``framework`` in ``layout``, by
    relative path.

    >>> render("other", "onnx", "demo")["requirements.txt"].splitlines()[0]
    'numpy>=1.26'
    """
    _pick(MODEL_TYPES, "model type", model_type)
    _pick(FRAMEWORKS, "framework", framework)
    _pick(LAYOUTS, "layout", layout)
    if (model_type, framework) not in offered_combinations(layout):
        elsewhere = [
            other for other in LAYOUTS if (model_type, framework) in offered_combinations(other)
        ]
        plural = "s" if len(elsewhere) > 1 else ""
        where = f" (offered in the {' and '.join(elsewhere)} layout{plural})" if elsewhere else ""
        raise TemplateError(
            f"no {layout} template for {model_type} with {framework}{where}; the {layout} layout"
            f" offers {describe_offered(layout)}"
        )
    return LAYOUTS[layout].render(MODEL_TYPES[model_type], FRAMEWORKS[framework], name)
