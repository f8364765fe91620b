"""Run code without root's power over file permissions, so "unreadable" can be tested as root.

Root reads any file. In a fresh user namespace (``unshare --user``) a root
process keeps its uid on the filesystem but loses its capabilities there, so
only the owner permission bits apply: a ``chmod 0`` file becomes unreadable,
exactly as for an ordinary user. Tests use this instead of skipping as root.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import subprocess
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

__all__ = ["run_unprivileged", "unprivileged_prefix"]

T = TypeVar("T")

CLONE_NEWUSER = 0x10000000


def unprivileged_prefix() -> list[str]:
    """A command prefix that runs a subprocess without root's file-permission override."""
    if os.geteuid() != 0:
        return []
    probe = subprocess.run(["unshare", "--user", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.fail("running as root and 'unshare --user' cannot drop privileges for this test")
    return ["unshare", "--user"]


def run_unprivileged(fn: Callable[[], T]) -> T:
    """``fn()``, in a forked child inside a new user namespace when running as root.

    The return value (or the exception ``fn`` raised) comes back pickled; the
    child's memory, an in-memory store included, does not. The child must not
    reuse an SQLite connection of the parent: open the store again inside ``fn``.
    """
    if os.geteuid() != 0:
        return fn()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(read_end)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWUSER) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER) failed")
            outcome: tuple[bool, Any] = (True, fn())
        except BaseException as exc:
            outcome = (False, exc)
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:
            data = pickle.dumps((False, RuntimeError(f"unpicklable outcome: {exc!r}")))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    ok, value = pickle.loads(data)
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
