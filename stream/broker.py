"""A real local Apache Kafka broker (single-node KRaft) without Docker.

Kafka's jars come from Maven Central through `mvn` and run on the local `java`
(17+). Only the standard library is imported here, so `feedback broker ...` is fast.

Layout under the feedback home (`home` argument, else `$FEEDBACK_HOME`, else
`~/.cache/feedback`):

    kafka/<version>/libs/        the broker's jars (pom.xml beside them)
    broker/<port>/               one broker's state:
        server.properties        generated on every start (mode 0600: may hold SASL passwords)
        log4j2.properties        logging config (log4j.properties for Kafka 3.x)
        data/                    the KRaft log dir (topics and metadata)
        format.json              what `data/` was formatted with (version, SCRAM users)
        broker.json              the last start: version, controller port, SASL port
        broker.pid               pid of the running broker
        broker.log               its output (the previous run's in broker.log.1)
        tls/                     with an SSL listener: a self-signed certificate for
                                 127.0.0.1/localhost (broker.p12, its password, 0600) and
                                 ca.pem, the certificate clients trust (KAFKA_SSL_CAFILE)
        .lock                    serializes start/stop across processes

Jar cache: `ensure_kafka` reuses jars found under the given home or, failing
that, under the default home, and only downloads (into the given home) when
neither has them. So a throwaway home (tests) keeps its state apart but shares
the jars of the default cache.

SASL passwords are written only to server.properties and (as a hash) format.json,
both mode 0600; they are on the command line of Kafka's StorageTool for the second
it takes to format the data dir (where SCRAM credentials are created).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
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
SASL_MECHANISMS = ("SCRAM-SHA-512", "PLAIN")

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
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
"""
_LOG4J1_CONFIG = """\
log4j.rootLogger=INFO, out
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
    version: str = DEFAULT_VERSION,
    home: Path | None = None,
    sasl_port: int | None = None,
    sasl_users: dict[str, str] | None = None,
    ssl_port: int | None = None,
    extra_properties: dict[str, str] | None = None,
    timeout_s: float = 90,
) -> BrokerStatus:
    """Start a broker on 127.0.0.1:`port` in the background and wait until it accepts TCP.

    Idempotent: if it already runs, its status is returned. With `sasl_port` and
    `sasl_users` ({name: password}), a SASL_PLAINTEXT listener accepts those users
    with SCRAM-SHA-512 and PLAIN. `extra_properties` override server.properties.
    """
    _check_sasl(sasl_port, sasl_users)
    major = _major(version)
    state = _State.of(home, port)
    with state.locked():
        current = state.status()
        if current.running:
            log.info("broker already running on %s (pid %s)", current.bootstrap, current.pid)
            if current.version != version:
                log.warning(
                    "it runs Kafka %s, not %s: stop it first to switch", current.version, version
                )
            return current
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
        java = [_java(), *JVM_OPTIONS, logging_flag, "-cp", f"{libs}/*"]
        _format_storage(state, java, version, sasl_users or {})
        state.info.write_text(
            json.dumps(
                {
                    "version": version,
                    "controller_port": ports["CONTROLLER"],
                    "sasl_port": sasl_port,
                    "ssl_port": ssl_port,
                }
            )
        )
        proc = _launch(state, java, version, ports)
        _wait_started(state, proc, list(ports.values()), timeout_s)
        return state.status()


def stop(port: int = 9092, *, home: Path | None = None, timeout_s: float = 30) -> bool:
    """Stop the broker on `port` (SIGTERM, SIGKILL after `timeout_s`); True if it was running."""
    state = _State.of(home, port)
    with state.locked():
        pid = state.running_pid()
        if pid is None:
            state.pid_file.unlink(missing_ok=True)
            return False
        log.info("stopping broker on port %d (pid %d) ...", port, pid)
        started = time.monotonic()
        _signal(pid, signal.SIGTERM)
        if not _wait_exit(state, pid, timeout_s):
            log.warning("broker on port %d did not stop in %.0f s: killing it", port, timeout_s)
            _signal(pid, signal.SIGKILL)
            _wait_exit(state, pid, 10)
        state.pid_file.unlink(missing_ok=True)
        log.info("broker on port %d stopped in %.1f s", port, time.monotonic() - started)
        return True


def status(port: int = 9092, *, home: Path | None = None) -> BrokerStatus:
    """The state of the broker on `port`, from its pid file."""
    return _State.of(home, port).status()


def run(
    port: int = 9092,
    *,
    version: str = DEFAULT_VERSION,
    home: Path | None = None,
    sasl_port: int | None = None,
    sasl_users: dict[str, str] | None = None,
    ssl_port: int | None = None,
    extra_properties: dict[str, str] | None = None,
) -> int:
    """Run a broker in the foreground: start it, stream its log, stop it on Ctrl-C or SIGTERM.

    Returns 0 when stopped by a signal, 1 when the broker exits by itself.
    Call from the main thread (it installs a SIGTERM handler).
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
        self.format_file = self.dir / "format.json"
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
        try:
            return json.loads(self.info.read_text())
        except (OSError, ValueError):
            return {}

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
        properties[f"{prefix}.scram-sha-512.sasl.jaas.config"] = (
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


def _write_logging_config(state: _State, major: int) -> str:
    """Write the broker's logging config; return the JVM flag that selects it."""
    if major >= 4:
        path = state.dir / "log4j2.properties"
        path.write_text(_LOG4J2_CONFIG)
        return f"-Dlog4j2.configurationFile=file:{path}"
    path = state.dir / "log4j.properties"
    path.write_text(_LOG4J1_CONFIG)
    return f"-Dlog4j.configuration=file:{path}"


def _format_storage(
    state: _State, java: list[str], version: str, sasl_users: dict[str, str]
) -> None:
    """Format the KRaft data dir unless formatted by this version (and these SCRAM users)."""
    formatted = {}
    if (state.data_dir / "meta.properties").exists():
        with contextlib.suppress(OSError, ValueError):
            formatted = json.loads(state.format_file.read_text())
        scram = _fingerprint(sasl_users)
        if formatted.get("version") == version and (
            not sasl_users or formatted.get("scram") == scram
        ):
            return
        reason = (
            f"was formatted by Kafka {formatted.get('version', '?')}"
            if formatted.get("version") != version
            else "lacks the requested SCRAM users"
        )
        log.warning(
            "data dir %s %s: reformatting it for Kafka %s (its topics are lost)",
            state.data_dir,
            reason,
            version,
        )
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
        command += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=state.dir)
    if done.returncode != 0:
        output = done.stdout + done.stderr
        for password in sasl_users.values():
            output = output.replace(password, "***")
        raise BrokerError(f"formatting {state.data_dir} failed:\n{_tail(output)}")
    _write_private(
        state.format_file,
        json.dumps(
            {
                "version": version,
                "cluster_id": cluster_id,
                "scram": _fingerprint(sasl_users),
            }
        ),
    )


def _fingerprint(sasl_users: dict[str, str]) -> str:
    text = "\n".join(f"{name}\0{password}" for name, password in sorted(sasl_users.items()))
    return hashlib.sha256(text.encode()).hexdigest()


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


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
