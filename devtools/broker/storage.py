"""The KRaft data dir: formatting it, and which Kafka versions may run it."""

from __future__ import annotations

import base64
import json
import logging
import re
import shutil
import subprocess
import uuid

from devtools.broker.security import SCRAM_MECHANISM, hash_secret, redact
from devtools.broker.state import BrokerError, BrokerRefused, State, tail, write_private

log = logging.getLogger(__name__)


def format_storage(state: State, java: list[str], version: str, sasl_users: dict[str, str]) -> dict:
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
        output = redact(done.stdout + done.stderr, sasl_users)
        raise BrokerError(f"formatting {state.data_dir} failed:\n{tail(output)}")
    record = {
        "version": version,
        "cluster_id": cluster_id,
        "scram_users": {name: hash_secret(name, pw) for name, pw in sasl_users.items()},
    }
    write_private(state.data_record, json.dumps(record))
    return record


def check_data_version(state: State, data: dict, version: str) -> None:
    """Refuse to start data that a newer Kafka ran with an older one (it may not read it)."""
    ran = data.get("version")
    if not ran or ran == version:
        return
    if _version_key(version) < _version_key(ran):
        raise BrokerRefused(
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


def _cluster_id() -> str:
    """A random cluster id, as `StorageTool random-uuid` makes (base64url of 16 bytes)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
