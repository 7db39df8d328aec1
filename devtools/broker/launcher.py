"""Start, stop, run and query one local broker: the order of the steps of a start.

A start never loses data silently. The data dir is formatted only when it does not exist
yet or when asked (`reformat`). Listeners come from server.properties, so adding or
removing SASL and SSL listeners is a restart. SCRAM credentials live in the KRaft
metadata: new or changed users are set through the running broker with Kafka's
`kafka-configs` tool. A newer Kafka upgrades the data in place; an older one is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.broker.config import server_properties, write_logging_config, write_server_properties
from devtools.broker.jars import DEFAULT_VERSION, ensure_kafka, java_executable, major_version
from devtools.broker.process import follow, launch, stop_process, wait_started
from devtools.broker.security import (
    check_sasl,
    same_secret,
    sasl_properties,
    sync_scram_users,
    tls_properties,
)
from devtools.broker.state import BrokerError, BrokerRefused, BrokerStatus, State, write_private
from devtools.broker.storage import check_data_version, format_storage
from devtools.net import HOST, free_port, port_free

log = logging.getLogger(__name__)

JVM_OPTIONS = ("-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")
# Kafka's command-line tools (formatting, SCRAM users): short-lived, so tuned to start fast.
TOOL_JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


@dataclass(frozen=True)
class _Options:
    """What a start asks for, to compare with the broker that already runs."""

    version: str
    sasl_port: int | None
    sasl_users: dict[str, str] | None
    ssl_port: int | None
    extra_properties: dict[str, str] | None

    def differences(self, info: dict, data: dict, reformat: bool) -> list[str]:
        """What the running broker (its broker.json `info`, its `data` record) lacks.

        Listeners not asked for do not count: a broker with more of them serves the request.
        """
        found = []
        if info.get("version") != self.version:
            found.append(f"Kafka {info.get('version')}, not {self.version}")
        for name, wanted in (("SASL", self.sasl_port), ("SSL", self.ssl_port)):
            running = info.get(f"{name.lower()}_port")
            if wanted is not None and running != wanted:
                found.append(f"{name} port {running or 'none'}, not {wanted}")
        scram_users = data.get("scram_users", {})
        missing = [
            name
            for name, password in (self.sasl_users or {}).items()
            if not same_secret(scram_users.get(name), name, password)
        ]
        if missing and info.get("sasl_port"):
            found.append(f"SASL users {', '.join(missing)} missing or with another password")
        extra = info.get("extra_properties", {})
        found += [
            f"property {key}"
            for key, value in (self.extra_properties or {}).items()
            if extra.get(key) != value
        ]
        if reformat:
            found.append("--reformat")
        return found


def start(
    port: int = 9092,
    *,
    version: str | None = None,
    home: Path | None = None,
    sasl_port: int | None = None,
    sasl_users: dict[str, str] | None = None,
    ssl_port: int | None = None,
    extra_properties: dict[str, str] | None = None,
    reformat: bool = False,
    timeout_s: float = 90,
) -> BrokerStatus:
    """Start a broker on 127.0.0.1:`port` in the background and wait until it accepts TCP.

    `version` defaults to the one that last ran this broker's data, else DEFAULT_VERSION.
    With `sasl_port` and `sasl_users` ({name: password}), a SASL_PLAINTEXT listener accepts
    exactly those users with SCRAM-SHA-512 and PLAIN. `extra_properties` override
    server.properties.

    The listeners and users are this call's: a stopped broker restarts with them and keeps
    its topics (SCRAM users are altered through the running broker, never by formatting).
    Only `reformat` deletes the data, and only it lets an older Kafka start data that a
    newer one ran (otherwise BrokerRefused). If the broker already runs with everything
    asked for, its status is returned; if it runs with other options, BrokerRefused.
    """
    check_sasl(sasl_port, sasl_users)
    state = State.of(home, port)
    with state.locked():
        data = state.read_data_record()
        version = version or data.get("version") or DEFAULT_VERSION
        major = major_version(version)
        current = state.status()
        if current.running:
            wanted = _Options(version, sasl_port, sasl_users, ssl_port, extra_properties)
            if differences := wanted.differences(state.read_info(), data, reformat):
                raise BrokerRefused(
                    f"the broker on {current.bootstrap} (pid {current.pid}) already runs with "
                    f"other options ({'; '.join(differences)}): stop it first "
                    f"(`feedback broker stop --port {port}`), then start it with the new ones"
                )
            log.info("broker already running on %s (pid %s)", current.bootstrap, current.pid)
            return current
        if not reformat:
            check_data_version(state, data, version)
        libs = ensure_kafka(version, state.home)
        ports = {"PLAINTEXT": port, "CONTROLLER": _controller_port(state)}
        if sasl_port is not None:
            ports["SASL_PLAINTEXT"] = sasl_port
        if ssl_port is not None:
            ports["SSL"] = ssl_port
        for listener, listener_port in ports.items():
            _check_port_free(listener_port, listener)
        logging_flag = write_logging_config(state, major)
        properties = server_properties(state, ports, major) | sasl_properties(sasl_users)
        if ssl_port is not None:
            properties |= tls_properties(state)
        write_server_properties(state, properties | (extra_properties or {}))
        classpath = ("-cp", f"{libs}/*")
        tool = [java_executable(), *TOOL_JVM_OPTIONS, *classpath]
        if reformat or not state.formatted():
            data = format_storage(state, [*tool, logging_flag], version, sasl_users or {})
        write_private(
            state.info,
            json.dumps(
                {
                    "version": version,
                    "controller_port": ports["CONTROLLER"],
                    "sasl_port": sasl_port,
                    "ssl_port": ssl_port,
                    "extra_properties": extra_properties or {},
                }
            ),
        )
        broker_jvm = [java_executable(), *JVM_OPTIONS, logging_flag, *classpath]
        proc = launch(state, broker_jvm, version, ports)
        wait_started(state, proc, list(ports.values()), timeout_s)
        if sasl_users:
            try:
                data["scram_users"] = sync_scram_users(
                    state, tool, major, data.get("scram_users", {}), sasl_users
                )
            except BrokerError:
                stop_process(state, proc.pid, timeout_s=30)
                raise
        record = {
            "version": version,
            "cluster_id": data.get("cluster_id"),
            "scram_users": data.get("scram_users", {}),
        }
        write_private(state.data_record, json.dumps(record))
        return state.status()


def stop(port: int = 9092, *, home: Path | None = None, timeout_s: float = 30) -> bool:
    """Stop the broker on `port` (SIGTERM, SIGKILL after `timeout_s`); True if it was running."""
    state = State.of(home, port)
    with state.locked():
        pid = state.running_pid()
        if pid is None:
            state.pid_file.unlink(missing_ok=True)
            return False
        stop_process(state, pid, timeout_s)
        return True


def status(port: int = 9092, *, home: Path | None = None) -> BrokerStatus:
    """The state of the broker on `port`, from its pid file."""
    return State.of(home, port).status()


def run(port: int = 9092, *, home: Path | None = None, **options: Any) -> int:
    """Run a broker in the foreground: start it, stream its log, stop it on Ctrl-C or SIGTERM.

    The options are `start`'s. Returns 0 when stopped by a signal, 1 when the broker exits
    by itself. Call from the main thread (it installs a SIGTERM handler).
    """
    current = status(port, home=home)
    if current.running:
        raise BrokerRefused(
            f"a broker already runs on {current.bootstrap} (pid {current.pid}): "
            f"stop it first (`feedback broker stop --port {port}`)"
        )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        started = start(port, home=home, **options)
        return follow(State.of(home, port), started.pid or 0)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stop
        stop(port, home=home)
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def serving(
    port: int,
    *,
    home: Path | None = None,
    say: Callable[[str], None] = log.info,
    **options: Any,
) -> Iterator[BrokerStatus]:
    """The broker on `port` for a `with` block: started (with `start`'s `options`) unless it
    runs, and stopped at the end if this call started it."""
    was_running = status(port, home=home).running
    say(f"▶ starting the local Kafka broker on {HOST}:{port} ...")
    started = start(port, home=home, **options)
    try:
        yield started
    finally:
        if not was_running:
            say("▶ stopping the local Kafka broker")
            stop(port, home=home)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _controller_port(state: State) -> int:
    """The recorded controller port if still free, else a new free one."""
    recorded = state.read_info().get("controller_port")
    if recorded and port_free(recorded):
        return recorded
    return free_port()


def _check_port_free(port: int, listener: str) -> None:
    if not port_free(port):
        raise BrokerRefused(
            f"port {port} ({listener} listener) on {HOST} is already in use by another "
            "program (or by a broker of another feedback home): choose another port"
        )
