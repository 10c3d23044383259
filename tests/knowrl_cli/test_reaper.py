"""The watcher that `knowrl run` starts: children of a command killed with SIGKILL are stopped, by real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from knowrl_cli import reaper

# A stand-in for `knowrl run`: starts a long-lived child (as Prefect's temporary server is), then its watcher.
COMMAND = """
import subprocess, sys, time
from knowrl_cli import reaper
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
reaper.watch()
print(child.pid, flush=True)
time.sleep(120)
"""


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_children_of_a_command_killed_with_sigkill_are_stopped() -> None:
    command = subprocess.Popen([sys.executable, "-c", COMMAND], stdout=subprocess.PIPE, text=True)
    child = int(command.stdout.readline())
    try:
        time.sleep(2 * reaper.POLL_S + 0.5)  # the watcher has noted the child
        os.kill(command.pid, signal.SIGKILL)
        command.wait()
        assert _gone(child, timeout=reaper.GRACE_S + 5), "the child outlived its killed command"
    finally:
        command.kill()
        if not _gone(child, 0):
            os.kill(child, signal.SIGKILL)


def test_reap_after_a_process_that_does_not_exist_returns_at_once() -> None:
    started = time.monotonic()
    assert reaper.reap_after(2**22 + 12345) == []  # no such process (above the default pid_max)
    assert time.monotonic() - started < 1
