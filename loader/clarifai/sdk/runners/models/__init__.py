"""Stand-in for ``clarifai.runners.models``."""
