"""The ``claude-ingest`` console script.

``hook`` runs inside the agent's loop on every tool call, ``statusline`` after every message and
``opencode-event`` on every OpenCode event: they are dispatched here, before click and the rest of
the CLI are imported. Everything else goes to the click group.
"""

import sys


def main() -> int:
    if sys.argv[1:2] == ["hook"] and "--help" not in sys.argv:
        from .load.hooks import main as hook_main

        return hook_main(sys.argv[2:])
    if sys.argv[1:2] == ["statusline"] and "--help" not in sys.argv:
        from .load.statusline import main as statusline_main

        return statusline_main(sys.argv[2:])
    if sys.argv[1:2] == ["opencode-event"] and "--help" not in sys.argv:
        from .load.opencode import event_main

        return event_main(sys.argv[2:])
    from .cli import cli

    return cli(prog_name="claude-ingest")


if __name__ == "__main__":
    sys.exit(main())
