"""TLS and SASL: the SSL listener's certificate, SASL users (PLAIN and SCRAM), their secrets.

SASL passwords are written only to server.properties and (as a salted hash) format.json,
both mode 0600. When the data dir is formatted, they are on the command line of Kafka's
StorageTool for the second it takes; `kafka-configs` reads them from a 0600 file that is
deleted after it ran.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import subprocess
import uuid
from pathlib import Path

from devtools.broker.config import write_logging_config
from devtools.broker.jars import java_executable
from devtools.broker.state import BrokerError, BrokerRefused, State, tail, write_private
from devtools.net import HOST

log = logging.getLogger(__name__)

SCRAM_MECHANISM = "SCRAM-SHA-512"


SASL_MECHANISMS = (SCRAM_MECHANISM, "PLAIN")


_SASL_NAME = re.compile(r"[A-Za-z0-9._-]+")


_SASL_PASSWORD = re.compile(r'[^\s",=\[\]\\]+')


def check_sasl(sasl_port: int | None, sasl_users: dict[str, str] | None) -> None:
    if (sasl_port is None) != (not sasl_users):
        raise BrokerRefused("SASL needs both sasl_port and sasl_users (at least one user)")
    for name, password in (sasl_users or {}).items():
        if not _SASL_NAME.fullmatch(name):
            raise BrokerRefused(
                f"invalid SASL user name {name!r}: use letters, digits, '.', '_', '-'"
            )
        if not _SASL_PASSWORD.fullmatch(password):
            raise BrokerRefused(
                f"invalid password for SASL user {name!r}: it must be non-empty without "
                "whitespace, quotes, backslashes, ',', '=', '[' or ']'"
            )


def sasl_properties(sasl_users: dict[str, str] | None) -> dict[str, str]:
    """The SASL_PLAINTEXT listener's mechanisms and its PLAIN users (none without users)."""
    properties: dict[str, str] = {}
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
    return properties


def tls_properties(state: State) -> dict[str, str]:
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
        write_private(password_file, password)
        keytool = str(Path(java_executable()).resolve().parent / "keytool")
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


def sync_scram_users(
    state: State, java: list[str], major: int, recorded: dict[str, str], wanted: dict[str, str]
) -> dict[str, str]:
    """Make the running broker's SCRAM users `wanted`; return the new record of them.

    `recorded` holds the salted hashes of the users the data already has, so only new or
    changed users (and removed ones) cost a `kafka-configs` run (a JVM: seconds each).
    """
    users = dict(recorded)
    for name, password in wanted.items():
        if same_secret(recorded.get(name), name, password):
            continue
        log.info(
            "SASL user %s: %s its SCRAM credential", name, "changing" if name in users else "adding"
        )
        _alter_scram_user(state, java, major, name, password)
        users[name] = hash_secret(name, password)
    for name in sorted(recorded.keys() - wanted.keys()):
        log.info("SASL user %s: removing its SCRAM credential (not among the users given)", name)
        _alter_scram_user(state, java, major, name, None)
        del users[name]
    return users


def _alter_scram_user(
    state: State, java: list[str], major: int, name: str, password: str | None
) -> None:
    """Set (or, with no password, delete) `name`'s SCRAM credential through the running broker.

    The password goes through a 0600 file, not the command line.
    """
    command = [
        *java,
        write_logging_config(state, major, "tools", "WARN"),
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
        write_private(secret_file, f"{SCRAM_MECHANISM}=password={password}\n")
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
        output = redact(output, {name: password} if password else {})
        raise BrokerError(f"kafka-configs failed to alter SASL user {name}:\n{tail(output)}")


def hash_secret(name: str, password: str, salt: bytes | None = None) -> str:
    """A salted hash of a user's password, to tell later whether it changed."""
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", f"{name}\0{password}".encode(), salt, 100_000)
    return f"{salt.hex()}:{digest.hex()}"


def same_secret(recorded: str | None, name: str, password: str) -> bool:
    try:
        salt = bytes.fromhex((recorded or "").split(":", 1)[0])
    except ValueError:
        return False
    return bool(salt) and hmac.compare_digest(hash_secret(name, password, salt), recorded or "")


def redact(text: str, users: dict[str, str]) -> str:
    for password in users.values():
        text = text.replace(password, "***")
    return text
