"""`python -m aiki_cli` runs the `aiki` command."""

from .cli.app import main

main()
