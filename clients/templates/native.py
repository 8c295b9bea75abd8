"""The native layout: model.py, processing.py, backend.py, build_model.py, modelrt.yaml, ..."""

from __future__ import annotations

import json
from string import Template

from clients.templates.spec import FrameworkTemplate, LayoutTemplate, ModelTypeTemplate

_CONFIG_HEADER = """\
# The bundle config, checked when the bundle loads (unknown keys are errors).
name: $name  # the namespace model.py registers
version: "1"
description: $description
model_type: $model_type
framework: $framework
"""

_README = """\
# $name

`modelrt init` made this $summary bundle ($framework). It works as it is: build its
tiny model, check it, then replace the pieces with your own.

```bash
python build_model.py          # writes $weights, a tiny working model
modelrt run-local .            # loads the bundle in a worker and calls $hooks with sample input
```

| file | what it holds |
|---|---|
| `model.py` | the model: `load_model`, $hooks, and the output schema (`@outschema`) |
| `processing.py` | pre- and post-processing, labels, and the reference data of the tiny model |
| `backend.py` | loads `$weights` and runs it ($framework) |
| `build_model.py` | writes `$weights`; replace it with your own training or export |
| `modelrt.yaml` | the config: name, model type, framework, inputs, parameters |
| `requirements.txt` | what the bundle needs, checked when it loads |

Serve it by copying this folder (or a zip of it) into a model store:
`modelrt serve --model-store STORE`.
"""


def render_native(
    model_type: ModelTypeTemplate, framework: FrameworkTemplate, name: str
) -> dict[str, str]:
    """Every file of a native bundle, by relative path.

    >>> from clients.templates.catalog import FRAMEWORKS, MODEL_TYPES
    >>> sorted(render_native(MODEL_TYPES["other"], FRAMEWORKS["other"], "demo"))[:2]
    ['README.md', 'backend.py']
    """
    values = {"name": name}
    hooks = ", ".join(f"`{hook}`" for hook in model_type.hooks)
    summary = model_type.summary[:1].upper() + model_type.summary[1:]
    header = Template(_CONFIG_HEADER).substitute(
        name=name,
        # A JSON string is a valid YAML scalar, whatever the text holds.
        description=json.dumps(f"{summary} ({framework.summary}), made by modelrt init."),
        model_type=model_type.config_type,
        framework=framework.config_framework,
    )
    readme = Template(_README).substitute(
        name=name,
        summary=model_type.summary,
        framework=framework.summary,
        weights=framework.weights,
        hooks=hooks,
    )
    return {
        "model.py": Template(model_type.model_py).substitute(values),
        "processing.py": Template(model_type.processing_py).substitute(values),
        "backend.py": Template(framework.backend_py).substitute(values),
        "build_model.py": Template(framework.build_py).substitute(values),
        "modelrt.yaml": header + model_type.config,
        "requirements.txt": "\n".join(framework.requirements) + "\n",
        "README.md": readme,
    }


LAYOUT = LayoutTemplate(
    name="native",
    summary="modelrt's own (model.py with @register, modelrt.yaml)",
    render=render_native,
    build_script="build_model.py",
)
