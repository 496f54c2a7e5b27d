"""Who runs a run: the machine, its boot and the process, precisely enough to tell, from another
process, whether a run left ``running`` is still alive.

A host name and a pid are not enough: two machines may share a host name (cloned VMs, containers,
two laptops called ``ubuntu``), and pids are reused. So a run records, beside them:

- ``machine_id``: ``/etc/machine-id`` (or ``/var/lib/dbus/machine-id``), else the boot id, else the
  host name;
- ``boot_id``: ``/proc/sys/kernel/random/boot_id``, new at every boot;
- ``process_start``: the process's start time in clock ticks since boot (``/proc/PID/stat``), which a
  reused pid does not share.

:func:`is_dead` says a run is an orphan only when it is provably this machine's (same host name and
machine id) and its process is gone: on this boot, the pid is dead or now belongs to a process that
started at another time; from an earlier boot, the run showed no sign of life since this boot began
(a clone of this machine with the same ids, running now, would have). Where the process cannot be
identified (no ``/proc``), the pid's liveness is all there is.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


@dataclass(frozen=True)
class Machine:
    hostname: str
    machine_id: str | None
    boot_id: str | None


def _read_id(path: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return text[:64] or None


@functools.cache
def this_machine() -> Machine:
    """This machine's host name, machine id (falling back to the boot id, then the host name) and boot id."""
    hostname = socket.gethostname()
    boot_id = _read_id(_BOOT_ID_FILE)
    machine_id = next((m for m in map(_read_id, _MACHINE_ID_FILES) if m), None) or boot_id or hostname
    return Machine(hostname, machine_id[:64], boot_id)


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux), or ``None`` if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[-1].split()
        return int(fields[19])  # field 22 of stat(5); the split starts at field 3
    except (OSError, ValueError, IndexError):
        return None


def boot_time() -> float | None:
    """When this machine booted (epoch seconds, Linux ``/proc/stat``), or ``None`` if unknown."""
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a zombie counts as dead)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _win_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True  # no /proc (macOS): trust kill()


def _win_pid_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: it exists
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def is_dead(
    here: Machine,
    pid: int | None,
    machine_id: str | None,
    boot_id: str | None,
    started: int | None,
    last_seen: float | None,
    *,
    alive: Callable[[int], bool] | None = None,
    booted: Callable[[], float | None] = boot_time,
    started_at: Callable[[int], int | None] = process_start,
) -> bool:
    """Whether the run recorded with these owner fields (its host name already matched ``here``'s)
    is provably this machine's and its process gone; ``last_seen``: the run's newest sign of life
    (epoch seconds). A run recorded before machine ids were kept (``machine_id`` ``None``) is judged
    by its pid alone, as it was then."""
    alive = alive or pid_alive
    if pid is None:
        return False
    if machine_id is None:
        return not alive(pid)
    if machine_id != here.machine_id:
        return False  # another machine of the same host name
    if boot_id is not None and here.boot_id is not None and boot_id != here.boot_id:
        since = booted()  # an earlier boot of this machine, or a clone running now
        return since is not None and last_seen is not None and last_seen < since
    if not alive(pid):
        return True
    now = started_at(pid)
    return started is not None and now is not None and now != started  # the pid was reused
