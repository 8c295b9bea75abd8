"""`python -m runtime` runs `modelrt serve`."""

from runtime.cli import serve

serve()
