"""Stand-in for ``clarifai.runners``."""
