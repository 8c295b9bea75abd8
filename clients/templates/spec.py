"""What a bundle template is made of: one piece per model type, one per framework.

A model type brings the model code, the pre/post-processing and the config's inputs; a framework
brings the code that loads and runs the weights and the script that builds a tiny model. Any type
combines with any framework that lists it, because both sides meet at one small interface: the
framework's ``backend.load(path, device).run(features)`` maps float32 features [N, F] to class
probabilities [N, K], with F and K taken from the type's ``processing.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


class TemplateError(ValueError):
    """A template that cannot be made: an unknown type, framework, layout or combination.

    >>> str(TemplateError("unknown framework 'jax'"))
    "unknown framework 'jax'"
    """


@dataclass(frozen=True)
class ModelTypeTemplate:
    """The model-type side of a template.

    ``model_py`` and ``processing_py`` are ``string.Template`` texts (``$name`` is the model's
    namespace); ``config`` is the YAML that follows the config's fixed header (inputs, labels,
    batching, parameters); ``hooks`` are the hooks ``model.py`` implements.

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
