"""The broker's JVM process: launching it, waiting for its listeners, stopping it."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devtools.broker.state import BrokerError, State, tail
from devtools.net import HOST, accepts

log = logging.getLogger(__name__)


def launch(
    state: State, java: list[str], version: str, ports: dict[str, int]
) -> subprocess.Popen[bytes]:
    """Start the broker JVM in its own session, its output going to the log file."""
    if state.log_file.exists():
        state.log_file.replace(state.log_file.with_name("broker.log.1"))
    log.info(
        "starting Kafka %s on %s (%s; log %s)",
        version,
        f"{HOST}:{ports['PLAINTEXT']}",
        ", ".join(
            f"{name.lower()} port {port}" for name, port in ports.items() if name != "PLAINTEXT"
        ),
        state.log_file,
    )
    with open(state.log_file, "wb") as out:
        proc = subprocess.Popen(
            [*java, "kafka.Kafka", str(state.properties)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=state.dir,
            start_new_session=True,
        )
    state.adopt(proc)
    return proc


def wait_started(
    state: State, proc: subprocess.Popen[bytes], ports: list[int], timeout_s: float
) -> None:
    """Wait until every listener accepts TCP; raise with the log's tail if the broker dies."""
    started = time.monotonic()
    for port in ports:
        while not accepts(HOST, port):
            if proc.poll() is not None:
                state.pid_file.unlink(missing_ok=True)
                raise BrokerError(
                    f"the broker exited (code {proc.returncode}) before {HOST}:{port} opened; "
                    f"end of {state.log_file}:\n{tail(_read(state.log_file))}"
                )
            if time.monotonic() - started > timeout_s:
                proc.kill()
                proc.wait()
                state.pid_file.unlink(missing_ok=True)
                raise BrokerError(
                    f"the broker did not open {HOST}:{port} within {timeout_s} s (killed it); "
                    f"end of {state.log_file}:\n{tail(_read(state.log_file))}"
                )
            time.sleep(0.1)
    log.info("broker ready on %s:%d in %.1f s", HOST, ports[0], time.monotonic() - started)


def stop_process(state: State, pid: int, timeout_s: float) -> None:
    """SIGTERM the broker, SIGKILL it after `timeout_s`; forget its pid."""
    log.info("stopping broker on port %d (pid %d) ...", state.port, pid)
    started = time.monotonic()
    _signal(pid, signal.SIGTERM)
    if not _wait_exit(state, pid, timeout_s):
        log.warning("broker on port %d did not stop in %.0f s: killing it", state.port, timeout_s)
        _signal(pid, signal.SIGKILL)
        _wait_exit(state, pid, 10)
    state.pid_file.unlink(missing_ok=True)
    log.info("broker on port %d stopped in %.1f s", state.port, time.monotonic() - started)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_exit(state: State, pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while state.alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def follow(state: State, pid: int) -> int:
    """Copy the broker's log to stdout until it exits (returns 1) or a signal interrupts."""
    with open(state.log_file, encoding="utf-8", errors="replace") as log_in:
        while True:
            chunk = log_in.read(65536)
            if chunk:
                sys.stdout.write(chunk)
                sys.stdout.flush()
            elif not state.alive(pid):
                log.error("the broker on port %d exited", state.port)
                return 1
            else:
                time.sleep(0.2)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
