"""``python -m evstore`` runs the command line."""

from ._cli import main

main()
