"""The processes a `knowrl run` or `knowrl demo` starts die with it, even when it is killed with SIGKILL.

The flow starts Prefect's temporary API server as a child process (prefect's `SubprocessASGIServer`, ~200 MB) and
stops it from an `atexit` hook, which SIGKILL (an operator's `kill -9`, the OOM killer) skips: every killed run used
to leave its server running, with parent 1. Multi-GPU stages start `accelerate launch` children that would go on
training the same way. Prefect has no setting for this, and PR_SET_PDEATHSIG on the server is tied to the thread
that happened to start it, not to the process. So `watch()` starts a small watcher process in its own session (a
terminal's Ctrl-C or hang-up does not reach it): it notes the command's descendants every `POLL_S` and, once the
command is gone, stops those still running (SIGTERM, then SIGKILL after `GRACE_S`).

    python -m knowrl_cli.reaper PID    # what watch() runs
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import psutil

POLL_S = 0.5
GRACE_S = 5.0


def watch(pid: int | None = None) -> subprocess.Popen[bytes]:
    """Start the watcher of process `pid` (default: this one); it exits by itself after that process is gone."""
    return subprocess.Popen(
        [sys.executable, "-m", "knowrl_cli.reaper", str(pid or os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def _alive(proc: psutil.Process) -> bool:
    """Running, and not a zombie: a killed command stays a zombie until its own parent reaps it."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def reap_after(pid: int, poll_s: float = POLL_S, grace_s: float = GRACE_S) -> list[int]:
    """Wait for process `pid` to end, then stop its descendants still running; returns their PIDs."""
    try:
        command = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return []
    me = os.getpid()
    known: dict[int, psutil.Process] = {}
    while _alive(command):
        # psutil.Process compares by PID and start time: a PID reused later is never mistaken for a noted child.
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for child in command.children(recursive=True):
                if child.pid != me:
                    known.setdefault(child.pid, child)
        time.sleep(poll_s)
    left = [p for p in known.values() if _alive(p)]
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, stubborn = psutil.wait_procs(left, timeout=grace_s)
    for proc in stubborn:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    return [p.pid for p in left]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        raise SystemExit("usage: python -m knowrl_cli.reaper PID")
    reap_after(int(args[0]))


if __name__ == "__main__":
    main()
