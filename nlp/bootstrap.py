"""The default model: trained once per config + data + code revision, shared by processes.

`ensure_default_model` is what a fresh install, the Docker build and the tests call: it
returns at once when the store already holds a sound copy of the default version.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .config import load_config, version_id
from .errors import ModelError
from .progress import Reporter
from .store import ModelStore
from .training import train_model

log = logging.getLogger(__name__)


def ensure_default_model(
    store: str | Path, *, tier: str = "fast", progress: bool | Reporter = True
) -> str:
    """Train and store the default model of a sentiment tier unless already there.

    Idempotent and safe to call from several processes at once (they wait on the store's
    lock; one trains); a damaged copy of the default version is rebuilt. Returns the
    version id (a hash of config, data and code revision).

    The version is promoted only where that changes nothing a worker would load: when the
    store would serve it anyway (a store that was empty, or holds nothing newer and has
    nothing promoted). Elsewhere it is stored beside the promoted version, for
    `feedback models promote` to announce.
    """
    config = load_config(overrides={"sentiment.tier": tier})
    version = version_id(config)
    model_store = ModelStore(store)
    with model_store.lock():
        if model_store.exists(version):
            try:
                model_store.verify(version)
            except ModelError as exc:  # derived data: rebuild rather than fail forever
                log.warning("default model %s is damaged (%s); retraining", version, exc)
                model_store.delete(version)
        if not model_store.exists(version):
            train_model(store, config, version=version, progress=progress)
            model_store.verify(version)
        if model_store.promoted(tier) != version and model_store.resolve(None, tier) == version:
            model_store.promote(version)
    return version
