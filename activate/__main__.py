"""`python -m activate`: the CLI."""

from activate.cli.app import main

if __name__ == "__main__":
    main()
