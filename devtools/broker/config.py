"""The broker's configuration files: server.properties and its JVM's logging config."""

from __future__ import annotations

from devtools.broker.state import State, write_private
from devtools.net import HOST

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


def server_properties(
    state: State,
    ports: dict[str, int],
    major: int,
) -> dict[str, str]:
    """A single-node KRaft broker (broker and controller) with these listeners' ports."""
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
    return properties


def write_server_properties(state: State, properties: dict[str, str]) -> None:
    """Write server.properties (mode 0600: it may hold SASL passwords)."""
    write_private(state.properties, "".join(f"{k}={_escape(v)}\n" for k, v in properties.items()))


def _escape(value: str) -> str:
    """Escape a value for a Java .properties file."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def write_logging_config(
    state: State, major: int, name: str = "broker", level: str = "INFO"
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
