"""Which machine a row comes from: one way to name it, everywhere. Standard library only."""

from __future__ import annotations

import os


def host() -> str | None:
    """This machine's host name (the kernel's node name; on systems without uname, the socket's:
    imported only there, since every hook call names its machine and socket costs 3 ms to import)."""
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
