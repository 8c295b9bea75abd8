"""Clarifai-style folders: config.yaml, requirements.txt and 1/model.py, served as they are.

Both API styles: proto-style ``predict(request)`` models and ``ModelClass`` subclasses with
typed ``@ModelClass.method`` methods. Bundle code that imports the ``clarifai`` SDK gets the real
package when it is installed, else modelrt's stand-in (loader.clarifai.sdk).
"""

from loader.clarifai.layout import clarifai_layout
from loader.clarifai.loading import clarifai_config, clarifai_load

__all__ = ["clarifai_config", "clarifai_layout", "clarifai_load"]
