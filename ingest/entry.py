"""The ``claude-ingest`` console script.

Kept apart from ``cli`` so that commands that run inside an agent's loop can skip importing click
and sqlite-utils; everything else goes to the click group.
"""

import sys


def main() -> None:
    from .cli import cli

    cli(prog_name="claude-ingest")


if __name__ == "__main__":
    sys.exit(main())
