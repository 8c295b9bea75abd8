"""Stand-in for ``clarifai.utils``."""
