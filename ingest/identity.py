"""Which machine a row comes from: one way to name it, everywhere. Standard library only."""

from __future__ import annotations

import os
import socket


def host() -> str | None:
    """This machine's host name (the kernel's node name; on systems without uname, the socket's)."""
    try:
        return os.uname().nodename or socket.gethostname()
    except AttributeError:
        return socket.gethostname()
    except OSError:
        return None
