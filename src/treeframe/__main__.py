"""``python -m treeframe`` runs the CLI."""

from treeframe.cli.main import main

main()
