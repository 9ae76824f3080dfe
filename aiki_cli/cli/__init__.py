"""The `aiki` command line: typer commands over the client and worker, rich views."""
