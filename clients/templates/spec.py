"""What a bundle template is made of: one piece per model type, one per framework, one per layout.

A model type brings the model code, the pre/post-processing and the config's inputs; a framework
brings the code that loads and runs the weights and the script that builds a tiny model. Any type
combines with any framework that lists it, because both sides meet at one small interface: the
framework's ``backend.load(path, device).run(features)`` maps float32 features [N, F] to class
probabilities [N, K], with F and K taken from the type's ``processing.py``. A layout writes the
pieces as one platform lays bundles out; the type brings its platform-specific code for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class TemplateError(ValueError):
    """A template that cannot be made: an unknown type, framework, layout or combination.

    >>> str(TemplateError("unknown framework 'jax'"))
    "unknown framework 'jax'"
    """


@dataclass(frozen=True)
class GesundPieces:
    """A model type's code for Gesund-style bundles: ``string.Template`` texts of preprocess.py,
    postprocess.py and schema.py (``$name`` is the namespace), and the model class's name.

    >>> GesundPieces("Classifier", "", "", "").class_name
    'Classifier'
    """

    class_name: str
    preprocess_py: str
    postprocess_py: str
    schema_py: str


@dataclass(frozen=True)
class ClarifaiPieces:
    """A model type's code for Clarifai-style folders: the platform's ``model_type_id``, the
    concepts its config lists (none for types that take none) and 1/model.py's ModelClass.

    >>> ClarifaiPieces("text-to-text", "").concepts
    ()
    """

    model_type_id: str
    model_py: str
    concepts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelTypeTemplate:
    """The model-type side of a template.

    ``model_py`` and ``processing_py`` are ``string.Template`` texts (``$name`` is the model's
    namespace); ``config`` is the YAML that follows the config's fixed header (inputs, labels,
    batching, parameters); ``hooks`` are the hooks ``model.py`` implements. ``gesund`` and
    ``clarifai`` hold its code for those layouts (None: the layout does not offer the type).

    >>> ModelTypeTemplate("other", "other", "a model", "", "", "", ("predict",)).config_type
    'other'
    """

    name: str
    config_type: str
    summary: str
    model_py: str
    processing_py: str
    config: str
    hooks: tuple[str, ...]
    gesund: GesundPieces | None = None
    clarifai: ClarifaiPieces | None = None


@dataclass(frozen=True)
class FrameworkTemplate:
    """The framework side of a template.

    ``backend_py`` loads and runs ``weights``; ``build_py`` writes ``weights`` (a tiny model built
    from the type's ``processing.py``); ``model_types`` are the types it is offered with.

    >>> FrameworkTemplate("other", "other", "numpy", "", "", "model.npz", ("numpy",)).weights
    'model.npz'
    """

    name: str
    config_framework: str
    summary: str
    backend_py: str
    build_py: str
    weights: str
    requirements: tuple[str, ...]
    model_types: frozenset[str] | None = None  # None: every model type

    def supports(self, model_type: str) -> bool:
        """Whether this framework is offered with ``model_type``."""
        return self.model_types is None or model_type in self.model_types


#: Renders every file of a bundle, by relative path, for one model type and framework.
LayoutRenderer = Callable[[ModelTypeTemplate, FrameworkTemplate, str], dict[str, str]]


@dataclass(frozen=True)
class LayoutTemplate:
    """One bundle layout: how it renders, where its build script is, what it offers.

    ``build_script`` is the path (relative to the bundle) of the script that writes the weights;
    ``frameworks`` limits the frameworks it is offered with (None: all), and a model type is
    offered when ``offers_type`` says so.

    >>> layout = LayoutTemplate("x", "a layout", lambda t, f, n: {}, "build_model.py")
    >>> layout.supports_framework("onnx")
    True
    """

    name: str
    summary: str
    render: LayoutRenderer
    build_script: str
    frameworks: frozenset[str] | None = None  # None: every framework
    offers_type: Callable[[ModelTypeTemplate], bool] = field(default=lambda _: True)

    def supports_framework(self, framework: str) -> bool:
        """Whether this layout is offered with ``framework``."""
        return self.frameworks is None or framework in self.frameworks
