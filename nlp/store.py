"""Versioned model directories with a model card, checksums and atomic writes.

Layout::

    <store>/<version>/spacy/              the spaCy pipeline (nlp.to_disk)
    <store>/<version>/sentiment.safetensors
    <store>/<version>/model-card.json     version, provenance, metrics, labels, checksums
    <store>/PROMOTED                      the version `load_enricher(version=None)` uses

A version is built in `<store>/.tmp-*` and renamed into place, so readers
never see half-written versions.  Loading verifies every file's sha256.  Writers that
must not race (two processes bootstrapping the same default model) hold `lock()`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelCorruptError, ModelError, ModelMismatchError, ModelNotFoundError

CARD = "model-card.json"
PROMOTED = "PROMOTED"
FORMAT = "feedback-nlp/1"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_version_name(version: str) -> str:
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise ModelNotFoundError(f"invalid model version name {version!r}")
    return version


def file_checksums(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` except the card, keyed by posix relative path."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != CARD
    }


class ModelStore:
    """A directory of model versions."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def path(self, version: str) -> Path:
        return self.root / check_version_name(version)

    def exists(self, version: str) -> bool:
        return (self.path(version) / CARD).is_file()

    def versions(self) -> list[str]:
        """Complete versions, oldest first (by the card's created_at)."""
        if not self.root.is_dir():
            return []
        found = []
        for d in self.root.iterdir():
            if d.is_dir() and not d.name.startswith(".") and (d / CARD).is_file():
                try:
                    created = json.loads((d / CARD).read_text("utf-8")).get("created_at", "")
                except (OSError, ValueError):
                    created = ""
                found.append((str(created), d.name))
        return [name for _, name in sorted(found)]

    def promoted(self) -> str | None:
        try:
            name = (self.root / PROMOTED).read_text("utf-8").strip()
        except OSError:
            return None
        return name or None

    def promote(self, version: str) -> None:
        """Make `version` the default for `load_enricher(store)` (atomic pointer update)."""
        if not self.exists(version):
            raise ModelNotFoundError(f"no model version {version!r} in {self.root}")
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".promote-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(version + "\n")
        os.replace(tmp, self.root / PROMOTED)

    def resolve(self, version: str | None) -> str:
        """The requested version, else the promoted one, else the newest."""
        if version is not None:
            if not self.exists(version):
                raise ModelNotFoundError(f"no model version {version!r} in {self.root}")
            return version
        promoted = self.promoted()
        if promoted and self.exists(promoted):
            return promoted
        versions = self.versions()
        if not versions:
            raise ModelNotFoundError(
                f"no models in {self.root}; run `feedback train` or ensure_default_model()"
            )
        return versions[-1]

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the whole store, across processes, for the block."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def writing(self, version: str) -> Iterator[Path]:
        """Yield a temp dir to fill; on success it becomes `<store>/<version>` atomically."""
        final = self.path(version)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".tmp-{version}-"))
        try:
            yield tmp
            if not (tmp / CARD).is_file():
                raise ModelError("model card was not written")
            if final.exists():
                old = final.with_name(f".old-{version}-{os.getpid()}")
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def read_card(self, version: str) -> dict:
        path = self.path(version) / CARD
        try:
            card = json.loads(path.read_text("utf-8"))
        except FileNotFoundError as exc:
            raise ModelNotFoundError(f"no model card for {version!r} in {self.root}") from exc
        except (OSError, ValueError) as exc:
            raise ModelCorruptError(f"unreadable model card {path}: {exc}") from exc
        if not isinstance(card, dict) or card.get("format") != FORMAT:
            raise ModelMismatchError(f"{path}: not a {FORMAT} model card")
        return card

    def verify(self, version: str) -> dict:
        """Return the card after checking every file against its recorded sha256."""
        card = self.read_card(version)
        root = self.path(version)
        expected = card.get("files")
        if not isinstance(expected, dict) or not expected:
            raise ModelCorruptError(f"{version}: model card lists no file checksums")
        for rel, digest in expected.items():
            path = (root / rel).resolve()
            if root.resolve() not in path.parents:
                raise ModelCorruptError(f"{version}: card path escapes the version dir: {rel}")
            if not path.is_file():
                raise ModelCorruptError(f"{version}: missing file {rel}")
            if sha256_file(path) != digest:
                raise ModelCorruptError(f"{version}: checksum mismatch for {rel}")
        extra = set(file_checksums(root)) - set(expected)
        if extra:
            raise ModelCorruptError(f"{version}: unexpected files {sorted(extra)}")
        return card

    def delete(self, version: str) -> None:
        shutil.rmtree(self.path(version))


def write_card(root: Path, card: dict) -> dict:
    """Add format and checksums of everything in `root`, then write the card."""
    card = {"format": FORMAT, **card, "files": file_checksums(root)}
    (root / CARD).write_text(json.dumps(card, indent=2, sort_keys=False) + "\n", "utf-8")
    return card
