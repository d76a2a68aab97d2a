"""The command line: thin Typer commands over the engine; Rich on a terminal, JSON lines with --json."""
