"""Versioned model directories with a model card, checksums and atomic writes.

Layout::

    <store>/<version>/spacy/              the spaCy pipeline (nlp.to_disk)
    <store>/<version>/sentiment.safetensors
    <store>/<version>/model-card.json     version, provenance, metrics, labels, checksums
    <store>/<version>/sentiment_encoder/  (accurate tier: weights, config, tokenizer)
    <store>/PROMOTED                      the promoted fast-tier version
    <store>/PROMOTED.accurate             the promoted accurate-tier version

Each sentiment tier has its own promoted version (`load_enricher(version=None, tier=...)`
serves it), so that fast and accurate workers share a store and each follows its own.

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
from .schema import SENTIMENT_TIERS

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

    def versions(self, tier: str | None = None) -> list[str]:
        """Complete versions (of `tier`, when given), oldest first (by the card's created_at)."""
        if not self.root.is_dir():
            return []
        found = []
        for d in self.root.iterdir():
            if d.is_dir() and not d.name.startswith(".") and (d / CARD).is_file():
                try:
                    card = json.loads((d / CARD).read_text("utf-8"))
                except (OSError, ValueError):
                    card = {}
                card = card if isinstance(card, dict) else {}
                if tier is None or tier_of(card) == tier:
                    found.append((str(card.get("created_at", "")), d.name))
        return [name for _, name in sorted(found)]

    def tier(self, version: str) -> str:
        """The sentiment tier of a stored version (from its card, not verified here)."""
        path = self.path(version) / CARD
        try:
            card = json.loads(path.read_text("utf-8"))
        except FileNotFoundError as exc:
            raise ModelNotFoundError(f"no model card for {version!r} in {self.root}") from exc
        except (OSError, ValueError) as exc:
            raise ModelCorruptError(f"unreadable model card {path}: {exc}") from exc
        return tier_of(card if isinstance(card, dict) else {})

    def promoted(self, tier: str = "fast") -> str | None:
        """The promoted version of a sentiment tier, if any."""
        try:
            name = (self.root / promoted_file(tier)).read_text("utf-8").strip()
        except OSError:
            return None
        return name or None

    def promote(self, version: str) -> None:
        """Make `version` its tier's default for `load_enricher` (atomic pointer update)."""
        if not self.exists(version):
            raise ModelNotFoundError(f"no model version {version!r} in {self.root}")
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".promote-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(version + "\n")
        os.replace(tmp, self.root / promoted_file(self.tier(version)))

    def resolve(self, version: str | None, tier: str = "fast") -> str:
        """The requested version, else the tier's promoted one, else the tier's newest."""
        if version is not None:
            if not self.exists(version):
                raise ModelNotFoundError(f"no model version {version!r} in {self.root}")
            return version
        promoted = self.promoted(tier)
        if promoted and self.exists(promoted):
            return promoted
        versions = self.versions(tier)
        if not versions:
            raise ModelNotFoundError(
                f"no {tier}-tier models in {self.root}; run `feedback train` or "
                "ensure_default_model()"
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


def tier_of(card: dict) -> str:
    """The sentiment tier a model card describes (cards without one are `fast`)."""
    tier = (card.get("sentiment") or {}).get("tier", "fast")
    if tier not in SENTIMENT_TIERS:
        raise ModelMismatchError(f"{card.get('version')}: unknown sentiment tier {tier!r}")
    return tier


def promoted_file(tier: str) -> str:
    """The pointer file of a tier's promoted version (`PROMOTED` for the fast tier)."""
    if tier not in SENTIMENT_TIERS:
        raise ModelMismatchError(f"unknown sentiment tier {tier!r} (one of {SENTIMENT_TIERS})")
    return PROMOTED if tier == "fast" else f"{PROMOTED}.{tier}"


def write_card(root: Path, card: dict) -> dict:
    """Add format and checksums of everything in `root`, then write the card."""
    card = {"format": FORMAT, **card, "files": file_checksums(root)}
    (root / CARD).write_text(json.dumps(card, indent=2, sort_keys=False) + "\n", "utf-8")
    return card
