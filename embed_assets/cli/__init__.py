"""`embed-assets`: the command line, the headless runner, and the demo with its definitions."""

from embed_assets.cli.commands import main

__all__ = ["main"]
