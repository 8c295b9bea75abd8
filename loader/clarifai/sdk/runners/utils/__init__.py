"""Stand-in for ``clarifai.runners.utils``."""
