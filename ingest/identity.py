"""Which machine a row comes from: one way to name it, everywhere. Standard library only."""

from __future__ import annotations

import os
import socket

MACHINE_ENV = "CLAUDE_INGEST_MACHINE"  # the name a person gives this machine (--machine sets it)


def host() -> str | None:
    """This machine's name: ``$CLAUDE_INGEST_MACHINE`` when set (a laptop and a desktop may both be
    called ``MacBook-Pro.local``), else the kernel's node name (on systems without uname, the socket's)."""
    named = os.environ.get(MACHINE_ENV, "").strip()
    if named:
        return named
    try:
        return os.uname().nodename or socket.gethostname()
    except AttributeError:
        return socket.gethostname()
    except OSError:
        return None
