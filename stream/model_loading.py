"""The model the settings ask for, loaded from the model store: one home for the worker,
the trainer, `feedback enrich`, `feedback models` and the benchmark.

Every mistake the user can fix (an unknown MODEL_VERSION, a damaged model) is a
`UserError` naming the store and the fix, raised before Kafka is contacted where possible.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from stream.settings import Settings, UserError

if TYPE_CHECKING:
    from stream.processing import Enricher


def load_enricher(settings: Settings) -> Enricher:
    """The model the settings ask for: the pinned version, else the promoted one.

    On a store with no model at all, the default model is trained first. An unknown
    MODEL_VERSION or a damaged model is a `UserError`.
    """
    from nlp import ModelError, ModelStore, ensure_default_model

    check_model_version(settings)
    tier = settings.sentiment_model
    if settings.model_version is None and not ModelStore(settings.model_dir).versions(tier):
        ensure_default_model(settings.model_dir, tier=tier)
    try:
        return version_loader(settings)(settings.model_version)
    except ModelError as exc:
        raise UserError(f"the model store {settings.model_dir} cannot serve: {exc}") from None


def version_loader(settings: Settings) -> Callable[[str | None], Enricher]:
    """A function loading (and verifying) one model version with the settings' options."""
    from nlp import load_enricher as load_from_store

    def load(version: str | None) -> Enricher:
        return load_from_store(
            settings.model_dir,
            version,
            uncertain_below=settings.uncertain_below,
            max_chars=settings.max_text_chars,
            torch_threads=settings.torch_threads,
            tier=settings.sentiment_model,
        )

    return load


def check_model_version(settings: Settings) -> None:
    """A pinned MODEL_VERSION must be in the model store and of the SENTIMENT_MODEL tier
    (checked before Kafka or the model)."""
    from nlp import ModelError, ModelStore

    if settings.model_version is None:
        return
    check_stored(settings, settings.model_version, pinned=True)
    try:
        tier = ModelStore(settings.model_dir).tier(settings.model_version)
    except ModelError as exc:
        raise UserError(f"the model store {settings.model_dir} cannot serve: {exc}") from None
    if tier != settings.sentiment_model:
        raise UserError(
            f"MODEL_VERSION={settings.model_version} is a {tier}-tier model but "
            f"SENTIMENT_MODEL={settings.sentiment_model}: set SENTIMENT_MODEL={tier}, or pin "
            f"a {settings.sentiment_model}-tier version from `feedback models list`"
        )


def check_stored(settings: Settings, version: str, *, pinned: bool = False) -> None:
    """`version` is in the store, or a UserError that lists the versions there."""
    from nlp import ModelError, ModelStore

    store = ModelStore(settings.model_dir)
    with contextlib.suppress(ModelError):  # ModelError: not even a valid version name
        if store.exists(version):
            return
    promoted = store.promoted(settings.sentiment_model)
    versions = [f"{v} (promoted)" if v == promoted else v for v in store.versions()]
    what = f"MODEL_VERSION={version}" if pinned else f"model version {version!r}"
    fix = "pick one from `feedback models list`" if versions else "train one with `feedback train`"
    if pinned:
        fix += ", or unset MODEL_VERSION to serve the promoted one"
    raise UserError(
        f"{what} is not in the model store {settings.model_dir} "
        f"({'versions: ' + ', '.join(versions) if versions else 'it is empty'}): {fix}"
    )
