"""A real local Apache Kafka broker (single-node KRaft) without Docker.

Kafka's jars come from Maven Central through `mvn` and run on the local `java` (17+).
Nothing heavier than the settings is imported, so `feedback broker ...` is fast.

    launcher.py   start, stop, status, run, serving: the steps of a start, in order
    jars.py       Kafka's jars: Maven, the cache
    config.py     server.properties and the JVM's logging config
    storage.py    the KRaft data dir: formatting, which versions may run it
    security.py   the SSL listener's certificate, SASL users and their secrets
    process.py    the broker's JVM: launch, wait for its listeners, stop, follow its log
    state.py      one broker's files and pid; the errors

Layout under the feedback home (`home` argument, else the settings' FEEDBACK_HOME):

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
"""

from devtools.broker.jars import DEFAULT_VERSION, SUPPORTED_VERSIONS, ensure_kafka
from devtools.broker.launcher import run, serving, start, status, stop
from devtools.broker.state import BrokerError, BrokerRefused, BrokerStatus

__all__ = [
    "DEFAULT_VERSION",
    "SUPPORTED_VERSIONS",
    "BrokerError",
    "BrokerRefused",
    "BrokerStatus",
    "ensure_kafka",
    "run",
    "serving",
    "start",
    "status",
    "stop",
]
