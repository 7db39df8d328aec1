"""`feedback worker` as a child process: its command line, and how it is stopped.

The demo runs one such worker, the benchmark several; both stop them the way an operator
would (SIGTERM: a graceful shutdown that commits what was published), and kill only what
is still there after a while.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable

#: `feedback worker` under this Python: it works from a checkout that is not installed.
WORKER_COMMAND = (sys.executable, "-m", "stream.cli", "worker")


def stop(procs: Iterable[subprocess.Popen], timeout_s: float = 30) -> None:
    """SIGTERM every process, wait `timeout_s` for all of them, then SIGKILL what is left.

    A process started in a session of its own is killed with its whole process group.
    """
    procs = [proc for proc in procs if proc.poll() is None]
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(10)
