"""Bundle templates for ``modelrt init``: files only, for each model type, framework and layout.

>>> files = render("classification", "onnx", "my-model")
>>> sorted(files)[:3]
['README.md', 'backend.py', 'build_model.py']
>>> sorted(render("classification", "onnx", "my-model", "clarifai"))[:2]
['1/backend.py', '1/build_model.py']
"""

from clients.templates.catalog import (
    FRAMEWORKS,
    LAYOUTS,
    MODEL_TYPES,
    describe_offered,
    offered_combinations,
    render,
)
from clients.templates.spec import (
    FrameworkTemplate,
    LayoutTemplate,
    ModelTypeTemplate,
    TemplateError,
)
from clients.templates.writing import check_name, name_for, write_template

__all__ = [
    "FRAMEWORKS",
    "LAYOUTS",
    "MODEL_TYPES",
    "FrameworkTemplate",
    "LayoutTemplate",
    "ModelTypeTemplate",
    "TemplateError",
    "check_name",
    "describe_offered",
    "name_for",
    "offered_combinations",
    "render",
    "write_template",
]
