"""The Gesund layout: a flat package as that platform's bundles are written (model.py registered
with ``@modelservice``, preprocess.py, postprocess.py, loss.py, schema.py, reqs.txt, weights).

The model class, the loss and ``__init__.py`` are the same for every type; a type brings its
preprocess.py, postprocess.py and schema.py (``GesundPieces``). Gesund models answer Predict
only, and the platform finds one weights file, so types served by other RPCs and frameworks
whose weights it cannot recognise (plain numpy) are not offered.
"""

from __future__ import annotations

from string import Template

from clients.templates.spec import FrameworkTemplate, LayoutTemplate, ModelTypeTemplate

INIT_PY = "from .model import *  # noqa: F403  (importing the package registers the model)\n"

MODEL_PY = '''\
"""$summary ($framework), written for the Gesund platform.

The platform builds $class_name(model_path) with the path of the weights, calls load(), then
answers each request with postprocess(predict(preprocess(input))): preprocess.py turns the input
into {"features": float32 [n, F], ...}, predict adds the model's "probabilities" [n, K], and
postprocess.py makes the Response of schema.py. A request with ground truth also gets loss().
"""

from pathlib import Path

from register.register import modelservice

from . import backend
from .loss import CrossEntropy
from .postprocess import Postprocess
from .preprocess import Preprocess

__all__ = ["$class_name"]


@modelservice.register_module(name="$name", default=False)
class $class_name:
    def __init__(self, model_path) -> None:
        self.model_path = model_path
        self.model = None
        self.preprocess = Preprocess()
        self.postprocess = Postprocess()
        self.loss_function = CrossEntropy()

    def load(self):
        # Published bundles run on the CPU; backend.load takes any device all the same.
        self.model = backend.load(Path(self.model_path), "cpu")
        return self.model

    def predict(self, input):
        if isinstance(input, list):  # batch=True: one item per input
            return [self.predict(item) for item in input]
        return {**input, "probabilities": self.model.run(input["features"])}

    def loss(self, y_pred, gts):
        return self.loss_function(y_pred, gts)
'''

LOSS_PY = '''\
"""The loss the platform reports when a request carries ground truth."""

import numpy as np


class CrossEntropy:
    """Mean cross-entropy of predict's probabilities against ground-truth label indices.

    ``gts`` holds one index into processing.LABELS per row of probabilities: per image for a
    classifier, per grid cell for a detector, per pixel for a segmenter, per input row otherwise.
    """

    def __call__(self, y_pred, gts):
        items = y_pred if isinstance(y_pred, list) else [y_pred]
        probabilities = np.concatenate([item["probabilities"] for item in items])
        labels = np.asarray(gts, dtype=np.int64).reshape(-1)
        if len(labels) != len(probabilities):
            raise ValueError(f"expected {len(probabilities)} labels in gts, got {len(labels)}")
        picked = probabilities[np.arange(len(labels)), labels]
        return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())
'''

_README = """\
# $name

`modelrt init` made this $summary bundle ($framework) in the Gesund platform's layout. It works
as it is: build its tiny model, check it, then replace the pieces with your own.

```bash
python build_model.py          # writes $weights, a tiny working model
modelrt run-local .            # loads the bundle in a worker and calls predict with a sample
```

| file | what it holds |
|---|---|
| `model.py` | the model class, registered with `@modelservice.register_module(name="$name")` |
| `preprocess.py`, `postprocess.py` | the platform's `Preprocess` and `Postprocess` classes |
| `schema.py` | the `Response` every answer is checked against (`@outschema.register_module`) |
| `loss.py` | the loss answered to a request with a `ground_truth` parameter |
| `processing.py` | the type's processing, labels and the reference data of the tiny model |
| `backend.py` | loads `$weights` and runs it ($framework) |
| `build_model.py` | writes `$weights`; replace it with your own training or export |
| `reqs.txt` | what the bundle needs |

Zip the folder (files at the top) to publish it, or copy it into a model store:
`modelrt serve --model-store STORE`.
"""


def render_gesund(
    model_type: ModelTypeTemplate, framework: FrameworkTemplate, name: str
) -> dict[str, str]:
    """Every file of a Gesund-style bundle, by relative path.

    >>> from clients.templates.catalog import FRAMEWORKS, MODEL_TYPES
    >>> "schema.py" in render_gesund(MODEL_TYPES["other"], FRAMEWORKS["onnx"], "demo")
    True
    """
    pieces = model_type.gesund
    assert pieces is not None, f"{model_type.name} has no Gesund pieces"
    summary = model_type.summary[:1].upper() + model_type.summary[1:]
    values = {
        "name": name,
        "class_name": pieces.class_name,
        "summary": summary,
        "framework": framework.summary,
    }
    readme = Template(_README).substitute(
        name=name, summary=model_type.summary, framework=framework.summary,
        weights=framework.weights,
    )  # fmt: skip
    requirements = [*framework.requirements, "pydantic>=2"]
    return {
        "__init__.py": INIT_PY,
        "model.py": Template(MODEL_PY).substitute(values),
        "preprocess.py": Template(pieces.preprocess_py).substitute(values),
        "postprocess.py": Template(pieces.postprocess_py).substitute(values),
        "schema.py": Template(pieces.schema_py).substitute(values),
        "loss.py": LOSS_PY,
        "processing.py": Template(model_type.processing_py).substitute(values),
        "backend.py": Template(framework.backend_py).substitute(values),
        "build_model.py": Template(framework.build_py).substitute(values),
        "reqs.txt": "\n".join(requirements) + "\n",
        "README.md": readme,
    }


LAYOUT = LayoutTemplate(
    name="gesund",
    summary="a Gesund-style package (Predict only)",
    render=render_gesund,
    build_script="build_model.py",
    frameworks=frozenset({"onnx", "pytorch", "tensorflow", "keras", "sklearn"}),
    offers_type=lambda template: template.gesund is not None,
)
