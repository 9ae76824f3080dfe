"""`python -m aiki_cli` runs the `aiki` command, through its front door."""

from .cli.door import main

main()
