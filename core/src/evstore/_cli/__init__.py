"""The ``evstore`` command line: one module per command group."""

from ._root import cli, main

__all__ = ["cli", "main"]
