"""``python -m aixgo`` runs the command-line interface."""

from aixgo.cli import main

if __name__ == "__main__":
    main()
