"""A real local Apache Kafka broker (single-node KRaft) without Docker.

Kafka's jars come from Maven Central through `mvn` and run on the local `java`
(17+). Only the standard library is imported here, so `feedback broker ...` is fast.

Layout under the feedback home (`home` argument, else `$FEEDBACK_HOME`, else
`~/.cache/feedback`):

    kafka/<version>/libs/        the broker's jars (pom.xml beside them)
    broker/<port>/               one broker's state:
        server.properties        generated on every start from its options (mode 0600:
                                 may hold SASL passwords)
        log4j2.properties        logging config (log4j.properties for Kafka 3.x)
        data/                    the KRaft log dir (topics and metadata)
        format.json              what `data/` holds: the newest Kafka version that ran it,
                                 its SCRAM users (salted password hashes; mode 0600)
        broker.json              the last start's options: version, ports, extra properties
        broker.pid               pid of the running broker
        broker.log               its output (the previous run's in broker.log.1)
        tls/                     with an SSL listener: a self-signed certificate for
                                 127.0.0.1/localhost (broker.p12, its password, 0600) and
                                 ca.pem, the certificate clients trust (KAFKA_SSL_CAFILE)
        .lock                    serializes start/stop across processes

A start never loses data silently. The data dir is formatted only when it does not exist
yet or when asked (`reformat`). Listeners come from server.properties, so adding or
removing SASL and SSL listeners is a restart. SCRAM credentials live in the KRaft
metadata: new or changed users are set through the running broker with Kafka's
`kafka-configs` tool. A newer Kafka upgrades the data in place; an older one is refused.

Jar cache: `ensure_kafka` reuses jars found under the given home or, failing
that, under the default home, and only downloads (into the given home) when
neither has them. So a throwaway home (tests) keeps its state apart but shares
the jars of the default cache.

SASL passwords are written only to server.properties and (as a salted hash) format.json,
both mode 0600. When the data dir is formatted, they are on the command line of Kafka's
StorageTool for the second it takes; `kafka-configs` reads them from a 0600 file that is
deleted after it ran.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_VERSION = "4.1.1"
SUPPORTED_VERSIONS = ("4.1.1", "3.9.1")
HOST = "127.0.0.1"
JVM_OPTIONS = ("-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")
# Kafka's command-line tools (formatting, SCRAM users): short-lived, so tuned to start fast.
TOOL_JVM_OPTIONS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
SCRAM_MECHANISM = "SCRAM-SHA-512"
SASL_MECHANISMS = (SCRAM_MECHANISM, "PLAIN")

# The slf4j binding added to kafka_2.13's runtime dependencies (its POM names none):
# Kafka 4 logs through log4j2, Kafka 3 through reload4j (log4j 1.x).
_EXTRA_DEPENDENCIES = {
    4: (("org.apache.logging.log4j", "log4j-slf4j-impl", "2.24.3"),),
    3: (
        ("org.slf4j", "slf4j-reload4j", "1.7.36"),
        ("ch.qos.reload4j", "reload4j", "1.2.25"),
    ),
}
_LOG4J2_CONFIG = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = OUT
"""
_LOG4J1_CONFIG = """\
log4j.rootLogger={level}, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
"""
# Security protocol of each listener (the listener names are ours).
_PROTOCOLS = {
    "PLAINTEXT": "PLAINTEXT",
    "CONTROLLER": "PLAINTEXT",
    "SASL_PLAINTEXT": "SASL_PLAINTEXT",
    "SSL": "SSL",
}
_SASL_NAME = re.compile(r"[A-Za-z0-9._-]+")
_SASL_PASSWORD = re.compile(r'[^\s",=\[\]\\]+')

# Brokers started by this process, kept so that their exit is reaped (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or stopped."""


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
            if not _same_secret(scram_users.get(name), name, password)
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


def default_home() -> Path:
    """The settings' FEEDBACK_HOME (for callers that pass no `home`)."""
    from .settings import Settings

    return Settings().feedback_home.expanduser()


# --- jars -----------------------------------------------------------------------------------


def ensure_kafka(version: str = DEFAULT_VERSION, home: Path | None = None) -> Path:
    """The dir of Kafka `version`'s jars: cached (see the module doc), else resolved by Maven."""
    major = _major(version)
    if version not in SUPPORTED_VERSIONS:
        log.warning(
            "Kafka %s is untested here (tested: %s)", version, ", ".join(SUPPORTED_VERSIONS)
        )
    _java()
    home = Path(home) if home else default_home()
    for root in dict.fromkeys((home, default_home())):
        libs = root / "kafka" / version / "libs"
        if libs.is_dir():
            return libs
    return _resolve_jars(version, major, home / "kafka" / version)


def _major(version: str) -> int:
    match = re.fullmatch(r"(\d+)\.\d+\.\d+", version)
    if not match or int(match[1]) not in _EXTRA_DEPENDENCIES:
        raise ValueError(f"unsupported Kafka version {version!r}: use one of {SUPPORTED_VERSIONS}")
    return int(match[1])


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home, "bin", "java")) if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise BrokerError("`java` not found: install a Java 17+ runtime or set JAVA_HOME")
    return java


def _resolve_jars(version: str, major: int, target: Path) -> Path:
    """Copy kafka_2.13 and its runtime dependencies into `target/libs` with Maven."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError(
            f"Kafka {version} is not cached and `mvn` is not installed: install Maven "
            "(it fetches the broker's jars from Maven Central)"
        )
    log.info("resolving Kafka %s from Maven Central into %s ...", version, target)
    started = time.monotonic()
    target.mkdir(parents=True, exist_ok=True)
    dependencies = (("org.apache.kafka", "kafka_2.13", version), *_EXTRA_DEPENDENCIES[major])
    (target / "pom.xml").write_text(_pom(dependencies))
    staging = target / f"libs.{os.getpid()}.tmp"
    command = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    done = subprocess.run(command, cwd=target, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerError(
            f"mvn failed to resolve Kafka {version}:\n{_tail(done.stdout + done.stderr)}"
        )
    libs = target / "libs"
    try:
        staging.rename(libs)
    except OSError:  # another process finished first: keep its copy
        shutil.rmtree(staging, ignore_errors=True)
    log.info("Kafka %s resolved in %.1f s", version, time.monotonic() - started)
    return libs


def _pom(dependencies: tuple[tuple[str, str, str], ...]) -> str:
    items = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in dependencies
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.feedback</groupId><artifactId>kafka-runtime</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
{items}
  </dependencies>
</project>
"""


# --- lifecycle ------------------------------------------------------------------------------


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
    newer one ran (otherwise BrokerError). If the broker already runs with everything
    asked for, its status is returned; if it runs with other options, BrokerError.
    """
    _check_sasl(sasl_port, sasl_users)
    state = _State.of(home, port)
    with state.locked():
        data = state.read_data_record()
        version = version or data.get("version") or DEFAULT_VERSION
        major = _major(version)
        current = state.status()
        if current.running:
            wanted = _Options(version, sasl_port, sasl_users, ssl_port, extra_properties)
            if differences := wanted.differences(state.read_info(), data, reformat):
                raise BrokerError(
                    f"the broker on {current.bootstrap} (pid {current.pid}) already runs with "
                    f"other options ({'; '.join(differences)}): stop it first "
                    f"(`feedback broker stop --port {port}`), then start it with the new ones"
                )
            log.info("broker already running on %s (pid %s)", current.bootstrap, current.pid)
            return current
        if not reformat:
            _check_data_version(state, data, version)
        libs = ensure_kafka(version, state.home)
        ports = {"PLAINTEXT": port, "CONTROLLER": _controller_port(state)}
        if sasl_port is not None:
            ports["SASL_PLAINTEXT"] = sasl_port
        if ssl_port is not None:
            ports["SSL"] = ssl_port
        for listener, listener_port in ports.items():
            _check_port_free(listener_port, listener)
        logging_flag = _write_logging_config(state, major)
        properties = _server_properties(state, ports, major, sasl_users, extra_properties)
        if ssl_port is not None:
            properties |= _tls_properties(state)
        _write_private(
            state.properties, "".join(f"{k}={_escape(v)}\n" for k, v in properties.items())
        )
        classpath = ("-cp", f"{libs}/*")
        tool = [_java(), *TOOL_JVM_OPTIONS, *classpath]
        if reformat or not state.formatted():
            data = _format_storage(state, [*tool, logging_flag], version, sasl_users or {})
        _write_private(
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
        proc = _launch(state, [_java(), *JVM_OPTIONS, logging_flag, *classpath], version, ports)
        _wait_started(state, proc, list(ports.values()), timeout_s)
        if sasl_users:
            try:
                data["scram_users"] = _sync_scram_users(
                    state, tool, major, data.get("scram_users", {}), sasl_users
                )
            except BrokerError:
                _stop_process(state, proc.pid, timeout_s=30)
                raise
        record = {
            "version": version,
            "cluster_id": data.get("cluster_id"),
            "scram_users": data.get("scram_users", {}),
        }
        _write_private(state.data_record, json.dumps(record))
        return state.status()


def stop(port: int = 9092, *, home: Path | None = None, timeout_s: float = 30) -> bool:
    """Stop the broker on `port` (SIGTERM, SIGKILL after `timeout_s`); True if it was running."""
    state = _State.of(home, port)
    with state.locked():
        pid = state.running_pid()
        if pid is None:
            state.pid_file.unlink(missing_ok=True)
            return False
        _stop_process(state, pid, timeout_s)
        return True


def status(port: int = 9092, *, home: Path | None = None) -> BrokerStatus:
    """The state of the broker on `port`, from its pid file."""
    return _State.of(home, port).status()


def run(
    port: int = 9092,
    *,
    version: str | None = None,
    home: Path | None = None,
    sasl_port: int | None = None,
    sasl_users: dict[str, str] | None = None,
    ssl_port: int | None = None,
    extra_properties: dict[str, str] | None = None,
    reformat: bool = False,
) -> int:
    """Run a broker in the foreground: start it, stream its log, stop it on Ctrl-C or SIGTERM.

    The options are `start`'s. Returns 0 when stopped by a signal, 1 when the broker exits
    by itself. Call from the main thread (it installs a SIGTERM handler).
    """
    current = status(port, home=home)
    if current.running:
        raise BrokerError(
            f"a broker already runs on {current.bootstrap} (pid {current.pid}): "
            f"stop it first (`feedback broker stop --port {port}`)"
        )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        started = start(
            port,
            version=version,
            home=home,
            sasl_port=sasl_port,
            sasl_users=sasl_users,
            ssl_port=ssl_port,
            extra_properties=extra_properties,
            reformat=reformat,
        )
        return _follow(_State.of(home, port), started.pid or 0)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stop
        stop(port, home=home)
        signal.signal(signal.SIGTERM, previous)


def wait_until_ready(bootstrap: str, timeout_s: float) -> None:
    """Wait until every `host:port` of a comma-separated bootstrap list accepts TCP."""
    deadline = time.monotonic() + timeout_s
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        while not _accepts(host, int(port)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address} did not accept connections within {timeout_s} s")
            time.sleep(0.1)


# --- state ----------------------------------------------------------------------------------


class _State:
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
    def of(cls, home: Path | str | None, port: int) -> _State:
        return cls(Path(home) if home else default_home(), port)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize start/stop of this broker across processes."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def read_info(self) -> dict:
        """The last start's options (broker.json)."""
        return _read_json(self.info)

    def formatted(self) -> bool:
        return (self.data_dir / "meta.properties").exists()

    def read_data_record(self) -> dict:
        """What `data/` holds (format.json): the newest Kafka that ran it, its SCRAM users."""
        return _read_json(self.data_record) if self.formatted() else {}

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


def _controller_port(state: _State) -> int:
    """The recorded controller port if still free, else a new free one."""
    recorded = state.read_info().get("controller_port")
    if recorded and _port_free(recorded):
        return recorded
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Java does
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _check_port_free(port: int, listener: str) -> None:
    if not _port_free(port):
        raise BrokerError(
            f"port {port} ({listener} listener) on {HOST} is already in use by another "
            "program (or by a broker of another feedback home): choose another port"
        )


def _check_sasl(sasl_port: int | None, sasl_users: dict[str, str] | None) -> None:
    if (sasl_port is None) != (not sasl_users):
        raise ValueError("SASL needs both sasl_port and sasl_users (at least one user)")
    for name, password in (sasl_users or {}).items():
        if not _SASL_NAME.fullmatch(name):
            raise ValueError(f"invalid SASL user name {name!r}: use letters, digits, '.', '_', '-'")
        if not _SASL_PASSWORD.fullmatch(password):
            raise ValueError(
                f"invalid password for SASL user {name!r}: it must be non-empty without "
                "whitespace, quotes, backslashes, ',', '=', '[' or ']'"
            )


# --- configuration --------------------------------------------------------------------------


def _server_properties(
    state: _State,
    ports: dict[str, int],
    major: int,
    sasl_users: dict[str, str] | None,
    extra: dict[str, str] | None,
) -> dict[str, str]:
    clients = {name: port for name, port in ports.items() if name != "CONTROLLER"}
    properties = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{ports['CONTROLLER']}",
        "listeners": ",".join(f"{name}://{HOST}:{port}" for name, port in ports.items()),
        "advertised.listeners": ",".join(
            f"{name}://{HOST}:{port}" for name, port in clients.items()
        ),
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": ",".join(f"{name}:{_PROTOCOLS[name]}" for name in ports),
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(state.data_dir),
        "auto.create.topics.enable": "true",
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    if major >= 4:
        properties["share.coordinator.state.topic.replication.factor"] = "1"
        properties["share.coordinator.state.topic.min.isr"] = "1"
    if sasl_users:
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in sasl_users.items())
        prefix = "listener.name.sasl_plaintext"
        properties["sasl.enabled.mechanisms"] = ",".join(SASL_MECHANISMS)
        properties[f"{prefix}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )
        properties[f"{prefix}.plain.sasl.jaas.config"] = (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
        )
    properties.update(extra or {})
    return properties


def _tls_properties(state: _State) -> dict[str, str]:
    """The SSL listener's keystore: a self-signed certificate made once with `keytool`.

    The certificate names localhost and 127.0.0.1, so clients that verify hostnames (the
    default) accept it once they trust `tls/ca.pem`.
    """
    tls = state.tls_dir
    keystore, password_file, ca = tls / "broker.p12", tls / "password", tls / "ca.pem"
    if not (keystore.exists() and password_file.exists() and ca.exists()):
        tls.mkdir(mode=0o700, exist_ok=True)
        keystore.unlink(missing_ok=True)
        password = uuid.uuid4().hex
        _write_private(password_file, password)
        keytool = str(Path(_java()).resolve().parent / "keytool")
        store = ["-keystore", str(keystore), "-storetype", "PKCS12", "-storepass", password]
        for args in (
            ["-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
             "-validity", "3650", "-dname", "CN=localhost",
             "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-keypass", password],
            ["-exportcert", "-alias", "broker", "-rfc", "-file", str(ca)],
        ):  # fmt: skip
            done = subprocess.run([keytool, *args, *store], capture_output=True, text=True)
            if done.returncode != 0:
                raise BrokerError(f"keytool failed: {done.stderr.strip() or done.stdout.strip()}")
        keystore.chmod(0o600)
    password = password_file.read_text().strip()
    prefix = "listener.name.ssl.ssl"
    return {
        f"{prefix}.keystore.type": "PKCS12",
        f"{prefix}.keystore.location": str(keystore),
        f"{prefix}.keystore.password": password,
        f"{prefix}.key.password": password,
    }


def _escape(value: str) -> str:
    """Escape a value for a Java .properties file."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def _write_logging_config(
    state: _State, major: int, name: str = "broker", level: str = "INFO"
) -> str:
    """Write the logging config of the broker's (or a tool's) JVM; return the flag selecting it."""
    prefix = "" if name == "broker" else f"{name}-"
    if major >= 4:
        path = state.dir / f"{prefix}log4j2.properties"
        path.write_text(_LOG4J2_CONFIG.format(level=level))
        return f"-Dlog4j2.configurationFile=file:{path}"
    path = state.dir / f"{prefix}log4j.properties"
    path.write_text(_LOG4J1_CONFIG.format(level=level))
    return f"-Dlog4j.configuration=file:{path}"


def _format_storage(
    state: _State, java: list[str], version: str, sasl_users: dict[str, str]
) -> dict:
    """Format the KRaft data dir, with `sasl_users` as SCRAM users; return its record."""
    if state.data_dir.exists():
        if state.formatted():
            log.warning("--reformat: deleting %s and every topic in it", state.data_dir)
        shutil.rmtree(state.data_dir)
    cluster_id = _cluster_id()
    log.info("formatting KRaft storage in %s (cluster id %s)", state.data_dir, cluster_id)
    command = [
        *java,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(state.properties),
    ]
    for name, password in sasl_users.items():
        command += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=state.dir)
    if done.returncode != 0:
        output = _redact(done.stdout + done.stderr, sasl_users)
        raise BrokerError(f"formatting {state.data_dir} failed:\n{_tail(output)}")
    record = {
        "version": version,
        "cluster_id": cluster_id,
        "scram_users": {name: _hash_secret(name, pw) for name, pw in sasl_users.items()},
    }
    _write_private(state.data_record, json.dumps(record))
    return record


def _check_data_version(state: _State, data: dict, version: str) -> None:
    """Refuse to start data that a newer Kafka ran with an older one (it may not read it)."""
    ran = data.get("version")
    if not ran or ran == version:
        return
    if _version_key(version) < _version_key(ran):
        raise BrokerError(
            f"the data of the broker on port {state.port} ({state.data_dir}) was last run by "
            f"Kafka {ran}, and Kafka {version} is older (a downgrade can corrupt it): start it "
            f"with `--version {ran}`, or add `--reformat` to delete its topics and start empty"
        )
    log.info(
        "upgrading the data in %s from Kafka %s to %s: its topics are kept; from now on it "
        "needs Kafka %s or newer",
        state.data_dir,
        ran,
        version,
        version,
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _sync_scram_users(
    state: _State, java: list[str], major: int, recorded: dict[str, str], wanted: dict[str, str]
) -> dict[str, str]:
    """Make the running broker's SCRAM users `wanted`; return the new record of them.

    `recorded` holds the salted hashes of the users the data already has, so only new or
    changed users (and removed ones) cost a `kafka-configs` run (a JVM: seconds each).
    """
    users = dict(recorded)
    for name, password in wanted.items():
        if _same_secret(recorded.get(name), name, password):
            continue
        log.info(
            "SASL user %s: %s its SCRAM credential", name, "changing" if name in users else "adding"
        )
        _alter_scram_user(state, java, major, name, password)
        users[name] = _hash_secret(name, password)
    for name in sorted(recorded.keys() - wanted.keys()):
        log.info("SASL user %s: removing its SCRAM credential (not among the users given)", name)
        _alter_scram_user(state, java, major, name, None)
        del users[name]
    return users


def _alter_scram_user(
    state: _State, java: list[str], major: int, name: str, password: str | None
) -> None:
    """Set (or, with no password, delete) `name`'s SCRAM credential through the running broker.

    The password goes through a 0600 file, not the command line.
    """
    command = [
        *java,
        _write_logging_config(state, major, "tools", "WARN"),
        "kafka.admin.ConfigCommand",
        "--bootstrap-server",
        f"{HOST}:{state.port}",
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        name,
    ]
    secret_file = state.dir / "scram-user.properties"
    if password is None:
        command += ["--delete-config", SCRAM_MECHANISM]
    else:
        _write_private(secret_file, f"{SCRAM_MECHANISM}=password={password}\n")
        command += ["--add-config-file", str(secret_file)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=state.dir, timeout=120)
    except subprocess.TimeoutExpired as err:
        raise BrokerError(
            f"kafka-configs did not answer within 120 s for SASL user {name}"
        ) from err
    finally:
        secret_file.unlink(missing_ok=True)
    output = done.stdout + done.stderr
    if done.returncode != 0 and not (password is None and "does not exist" in output):
        output = _redact(output, {name: password} if password else {})
        raise BrokerError(f"kafka-configs failed to alter SASL user {name}:\n{_tail(output)}")


def _hash_secret(name: str, password: str, salt: bytes | None = None) -> str:
    """A salted hash of a user's password, to tell later whether it changed."""
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", f"{name}\0{password}".encode(), salt, 100_000)
    return f"{salt.hex()}:{digest.hex()}"


def _same_secret(recorded: str | None, name: str, password: str) -> bool:
    try:
        salt = bytes.fromhex((recorded or "").split(":", 1)[0])
    except ValueError:
        return False
    return bool(salt) and hmac.compare_digest(_hash_secret(name, password, salt), recorded or "")


def _redact(text: str, users: dict[str, str]) -> str:
    for password in users.values():
        text = text.replace(password, "***")
    return text


def _cluster_id() -> str:
    """A random cluster id, as `StorageTool random-uuid` makes (base64url of 16 bytes)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


# --- process --------------------------------------------------------------------------------


def _launch(
    state: _State, java: list[str], version: str, ports: dict[str, int]
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
    _children[proc.pid] = proc
    state.pid_file.write_text(f"{proc.pid}\n")
    return proc


def _wait_started(
    state: _State, proc: subprocess.Popen[bytes], ports: list[int], timeout_s: float
) -> None:
    """Wait until every listener accepts TCP; raise with the log's tail if the broker dies."""
    started = time.monotonic()
    for port in ports:
        while not _accepts(HOST, port):
            if proc.poll() is not None:
                state.pid_file.unlink(missing_ok=True)
                raise BrokerError(
                    f"the broker exited (code {proc.returncode}) before {HOST}:{port} opened; "
                    f"end of {state.log_file}:\n{_tail(_read(state.log_file))}"
                )
            if time.monotonic() - started > timeout_s:
                proc.kill()
                proc.wait()
                state.pid_file.unlink(missing_ok=True)
                raise BrokerError(
                    f"the broker did not open {HOST}:{port} within {timeout_s} s (killed it); "
                    f"end of {state.log_file}:\n{_tail(_read(state.log_file))}"
                )
            time.sleep(0.1)
    log.info("broker ready on %s:%d in %.1f s", HOST, ports[0], time.monotonic() - started)


def _stop_process(state: _State, pid: int, timeout_s: float) -> None:
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


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_exit(state: _State, pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while state.alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _follow(state: _State, pid: int) -> int:
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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
