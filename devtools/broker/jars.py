"""Kafka's jars: resolved from Maven Central with `mvn`, cached under the feedback home.

`ensure_kafka` reuses jars found under the given home or, failing that, under the default
home, and only downloads (into the given home) when neither has them. So a throwaway home
(tests) keeps its state apart but shares the jars of the default cache.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from devtools.broker.state import BrokerError, BrokerRefused, default_home, tail

log = logging.getLogger(__name__)

DEFAULT_VERSION = "4.1.1"


SUPPORTED_VERSIONS = ("4.1.1", "3.9.1")


# The slf4j binding added to kafka_2.13's runtime dependencies (its POM names none):
# Kafka 4 logs through log4j2, Kafka 3 through reload4j (log4j 1.x).
_EXTRA_DEPENDENCIES = {
    4: (("org.apache.logging.log4j", "log4j-slf4j-impl", "2.24.3"),),
    3: (
        ("org.slf4j", "slf4j-reload4j", "1.7.36"),
        ("ch.qos.reload4j", "reload4j", "1.2.25"),
    ),
}


def ensure_kafka(version: str = DEFAULT_VERSION, home: Path | None = None) -> Path:
    """The dir of Kafka `version`'s jars: cached (see the module doc), else resolved by Maven."""
    major = major_version(version)
    if version not in SUPPORTED_VERSIONS:
        log.warning(
            "Kafka %s is untested here (tested: %s)", version, ", ".join(SUPPORTED_VERSIONS)
        )
    java_executable()
    home = Path(home) if home else default_home()
    for root in dict.fromkeys((home, default_home())):
        libs = root / "kafka" / version / "libs"
        if libs.is_dir():
            return libs
    return _resolve_jars(version, major, home / "kafka" / version)


def major_version(version: str) -> int:
    match = re.fullmatch(r"(\d+)\.\d+\.\d+", version)
    if not match or int(match[1]) not in _EXTRA_DEPENDENCIES:
        raise BrokerRefused(
            f"unsupported Kafka version {version!r}: use one of {SUPPORTED_VERSIONS}"
        )
    return int(match[1])


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home, "bin", "java")) if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise BrokerRefused("`java` not found: install a Java 17+ runtime or set JAVA_HOME")
    return java


def _resolve_jars(version: str, major: int, target: Path) -> Path:
    """Copy kafka_2.13 and its runtime dependencies into `target/libs` with Maven."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerRefused(
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
            f"mvn failed to resolve Kafka {version}:\n{tail(done.stdout + done.stderr)}"
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
