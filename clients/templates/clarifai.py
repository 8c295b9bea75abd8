"""The Clarifai layout: config.yaml, requirements.txt and 1/ holding model.py (a ``ModelClass``
with typed ``@ModelClass.method`` methods), its modules, the build script and the weights.

A type brings its model class and the platform's ``model_type_id`` (``ClarifaiPieces``); the
processing, the backend and the build script are the type's and framework's own, next to
1/model.py, where the platform's image puts the folder's code.
"""

from __future__ import annotations

import json
from string import Template

from clients.templates.spec import (
    FrameworkTemplate,
    LayoutTemplate,
    ModelTypeTemplate,
    TemplateError,
)

#: How every 1/model.py reaches backend.py and processing.py (after its other imports).
SIBLING_IMPORTS = """
HERE = Path(__file__).resolve().parent  # 1/: this file, its modules and the weights

# Clarifai imports this file alone, not as part of a package: its folder goes on the path so that
# the modules next to it can be imported (modelrt resolves them to this bundle's own files).
sys.path.append(str(HERE))

import backend  # noqa: E402
import processing  # noqa: E402
"""

_CONFIG = """\
# A Clarifai model folder: `clarifai model upload` reads this file, and modelrt serves the folder
# as it is. Put your own user_id and app_id here before uploading.
model:
  id: $name
  user_id: YOUR_USER_ID
  app_id: YOUR_APP_ID
  model_type_id: $model_type_id
  description: $description
build_info:
  python_version: "3.11"
inference_compute_info:
  cpu_limit: "1"
  cpu_memory: 1Gi
  num_accelerators: 0  # 1/model.py runs the model on the CPU
"""

_README = """\
# $name

`modelrt init` made this $summary ($framework) in the Clarifai platform's layout. It works as
it is: build its tiny model, check it, then replace the pieces with your own.

```bash
python 1/build_model.py        # writes 1/$weights, a tiny working model
modelrt run-local .            # loads the folder in a worker and calls each method with a sample
```

| file | what it holds |
|---|---|
| `config.yaml` | the model's id, `model_type_id`$concepts and compute |
| `requirements.txt` | what the model needs |
| `1/model.py` | the `ModelClass`: `load_model` and its `@ModelClass.method` methods |
| `1/processing.py` | pre- and post-processing, labels and the reference data of the tiny model |
| `1/backend.py` | loads `1/$weights` and runs it ($framework) |
| `1/build_model.py` | writes `1/$weights`; replace it with your own training or export |

Upload it with `clarifai model upload`, or serve it by copying this folder into a model store:
`modelrt serve --model-store STORE`.
"""

_CLARIFAI_REQUIREMENT = "clarifai>=11.5"


def _config(model_type: ModelTypeTemplate, framework: FrameworkTemplate, name: str) -> str:
    pieces = model_type.clarifai
    assert pieces is not None
    summary = model_type.summary[:1].upper() + model_type.summary[1:]
    config = Template(_CONFIG).substitute(
        # JSON strings are valid YAML scalars, whatever the text holds (an id "123" stays text).
        name=json.dumps(name),
        model_type_id=pieces.model_type_id,
        description=json.dumps(f"{summary} ({framework.summary}), made by modelrt init."),
    )
    if pieces.concepts:
        config += "concepts:  # the labels, as the platform lists them\n" + "".join(
            f"  - id: {json.dumps(c)}\n    name: {json.dumps(c)}\n" for c in pieces.concepts
        )
    return config


def render_clarifai(
    model_type: ModelTypeTemplate, framework: FrameworkTemplate, name: str
) -> dict[str, str]:
    """Every file of a Clarifai-style folder, by relative path.

    >>> from clients.templates.catalog import FRAMEWORKS, MODEL_TYPES
    >>> sorted(render_clarifai(MODEL_TYPES["other"], FRAMEWORKS["onnx"], "demo"))[:2]
    ['1/backend.py', '1/build_model.py']
    """
    pieces = model_type.clarifai
    assert pieces is not None, f"{model_type.name} has no Clarifai pieces"
    if "." in name:
        raise TemplateError(f"a Clarifai model id cannot contain '.': {name!r}; pass --name")
    values = {"name": name}
    readme = Template(_README).substitute(
        name=name, summary=model_type.summary, framework=framework.summary,
        weights=framework.weights, concepts=", `concepts`" if pieces.concepts else "",
    )  # fmt: skip
    requirements = [*framework.requirements, _CLARIFAI_REQUIREMENT]
    return {
        "config.yaml": _config(model_type, framework, name),
        "requirements.txt": "\n".join(requirements) + "\n",
        "1/model.py": Template(pieces.model_py).substitute(values),
        "1/processing.py": Template(model_type.processing_py).substitute(values),
        "1/backend.py": Template(framework.backend_py).substitute(values),
        "1/build_model.py": Template(framework.build_py).substitute(values),
        "README.md": readme,
    }


LAYOUT = LayoutTemplate(
    name="clarifai",
    summary="a Clarifai-style folder (config.yaml, 1/model.py)",
    render=render_clarifai,
    build_script="1/build_model.py",
    offers_type=lambda template: template.clarifai is not None,
)
