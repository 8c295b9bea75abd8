"""The `modelrt` command line: one module per command family; `main` is the console script."""

from clients.cli.commands import main

__all__ = ["main"]
