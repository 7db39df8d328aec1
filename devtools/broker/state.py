"""One broker's state on disk and its process bookkeeping; the launcher's errors."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devtools.net import HOST
from stream.settings import Settings, UserError

# Brokers started by this process, kept so that their exit is reaped (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or stopped: `feedback broker` exits 1."""


class BrokerRefused(BrokerError, UserError):
    """A request the user can fix (a port in use, options that differ from the running
    broker's, a version, a missing tool): `feedback broker` prints it and exits 2."""


@dataclass(frozen=True)
class BrokerStatus:
    """A broker's state; `version` is the running (or last started) Kafka version."""

    running: bool
    pid: int | None
    port: int
    version: str | None
    bootstrap: str
    data_dir: Path
    log_file: Path
    ssl_bootstrap: str | None = None
    ca_file: Path | None = None


def default_home() -> Path:
    """The settings' FEEDBACK_HOME (for callers that pass no `home`)."""
    return Settings().feedback_home.expanduser()


class State:
    """Paths and process bookkeeping of the broker on one port."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.dir = home / "broker" / str(port)
        self.properties = self.dir / "server.properties"
        self.data_dir = self.dir / "data"
        self.data_record = self.dir / "format.json"
        self.info = self.dir / "broker.json"
        self.pid_file = self.dir / "broker.pid"
        self.log_file = self.dir / "broker.log"

    @classmethod
    def of(cls, home: Path | str | None, port: int) -> State:
        return cls(Path(home) if home else default_home(), port)

    def adopt(self, proc: subprocess.Popen[bytes]) -> None:
        """Record a broker process this process started (its pid file; its exit is reaped)."""
        _children[proc.pid] = proc
        self.pid_file.write_text(f"{proc.pid}\n")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize start/stop of this broker across processes."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def read_info(self) -> dict:
        """The last start's options (broker.json)."""
        return read_json(self.info)

    def formatted(self) -> bool:
        return (self.data_dir / "meta.properties").exists()

    def read_data_record(self) -> dict:
        """What `data/` holds (format.json): the newest Kafka that ran it, its SCRAM users."""
        return read_json(self.data_record) if self.formatted() else {}

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return pid if self.alive(pid) else None

    def alive(self, pid: int) -> bool:
        """Whether `pid` is this broker's live (not zombie) java process."""
        child = _children.get(pid)
        if child is not None:
            if child.poll() is None:
                return True
            del _children[pid]
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        proc = Path("/proc", str(pid))
        if not proc.is_dir():  # no procfs (macOS): trust the pid
            return True
        try:
            cmdline = (proc / "cmdline").read_bytes()
            zombie = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return False
        return not zombie and str(self.properties).encode() in cmdline

    @property
    def tls_dir(self) -> Path:
        return self.dir / "tls"

    def status(self) -> BrokerStatus:
        pid = self.running_pid()
        info = self.read_info()
        ssl_port = info.get("ssl_port")
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            port=self.port,
            version=info.get("version"),
            bootstrap=f"{HOST}:{self.port}",
            data_dir=self.data_dir,
            log_file=self.log_file,
            ssl_bootstrap=f"{HOST}:{ssl_port}" if ssl_port else None,
            ca_file=self.tls_dir / "ca.pem" if ssl_port else None,
        )


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
