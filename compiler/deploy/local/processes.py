"""Background processes the local platform starts: find them again, check them, stop them.

A recorded pid is only trusted when its command line still names the server folder we
started it with, so a reused pid never gets a signal from us.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

# Small local jobs on a shared machine: one BLAS/OpenMP thread per process avoids
# oversubscribing the cores (measured: a 3,000-row gradient boosting fit took 2.2 s with
# two OpenMP threads and 0.1 s with one, on two cores). A value set by the user wins.
THREAD_LIMITS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def child_env() -> dict[str, str]:
    """Environment of the processes the local platform starts (steps, model servers)."""
    return {**THREAD_LIMITS, **os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"}


def _reap(pid: int) -> None:
    """Collect the exit status if `pid` is our child (otherwise its parent or init does)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def is_alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def command_line(pid: int) -> str | None:
    """The command line of `pid` (Linux /proc, else `ps`), or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace").strip()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None
    except OSError:
        return None
    try:
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def is_server(pid: int | None, server_dir: Path) -> bool:
    """Whether `pid` is alive and is the model server started for `server_dir`."""
    if not pid or not is_alive(pid):
        return False
    cmd = command_line(pid)
    return cmd is not None and "mlserver" in cmd and str(server_dir) in cmd


def stop(pid: int, timeout: float = 10.0) -> None:
    """Stop the process group led by `pid`: SIGTERM, then SIGKILL after `timeout` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not is_alive(pid):
                return
            time.sleep(0.05)
