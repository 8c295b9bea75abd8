# ruff: noqa: N999 (the folder's name is the bundle's, not a Python identifier)
# The platform imports the bundle as a package; model.py's __all__ says what it exports.
from .model import *  # noqa: F403
