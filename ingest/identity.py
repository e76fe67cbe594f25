"""Which machine a row comes from: one way to name it, everywhere. Standard library only."""

from __future__ import annotations

import os

MACHINE_ENV = "CLAUDE_INGEST_MACHINE"  # the name a person gives this machine (--machine sets it)


def host() -> str | None:
    """This machine's name: ``$CLAUDE_INGEST_MACHINE`` when set (a laptop and a desktop may both be
    called ``MacBook-Pro.local``), else the kernel's node name (on systems without uname, the socket's:
    imported only there, since every hook call names its machine and socket costs 3 ms to import)."""
    named = os.environ.get(MACHINE_ENV, "").strip()
    if named:
        return named
    try:
        name = os.uname().nodename
    except AttributeError:
        name = None
    except OSError:
        return None
    if name:
        return name
    import socket

    try:
        return socket.gethostname()
    except OSError:
        return None
