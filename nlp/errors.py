"""Exceptions raised by the nlp package."""

from __future__ import annotations


class ConfigError(ValueError):
    """A training config cannot be read or breaks its schema; the message names the setting."""


class ModelError(Exception):
    """Base class: a model version cannot be found, read, trusted or used."""


class ModelNotFoundError(ModelError):
    """The store or the requested version does not exist."""


class ModelCorruptError(ModelError):
    """Files are missing, truncated, unreadable or fail their checksums."""


class ModelMismatchError(ModelError):
    """Files are intact but disagree with each other or with this code (labels, dims, format)."""
