"""Whether a process of this machine still runs: what a record naming its writer's pid needs.

Job records, prometheus-client's per-worker files and ``serve``'s metrics
directories all name the process that wrote them; each reader decides with
this one check whether that writer is gone.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["process_alive"]


def process_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True
