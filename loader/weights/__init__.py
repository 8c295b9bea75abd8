"""Weights-only bundles (a config and weights, no model.py), served by the built-in WeightsModel.

The bundle format's config check and load (loading.py) and the model that serves the weights
through the framework loaders of loader.frameworks (runner.py).
"""

from loader.weights.loading import weights_config, weights_load
from loader.weights.runner import WeightsModel, runner_for

__all__ = ["WeightsModel", "runner_for", "weights_config", "weights_load"]
