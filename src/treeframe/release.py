"""The release and its format versions, in the lowest layer so that anything may name them.

``VERSION`` is the one place the release version is written: pyproject.toml
reads it (``[tool.setuptools.dynamic]``), ``treeframe.__version__``,
snapshot manifests and ``treeframe --version`` name it.
"""

__all__ = ["API_VERSION", "SCHEMA_VERSION", "VERSION", "version_line"]

VERSION = "0.1.0"
"""This release."""

API_VERSION = "1"
"""The major REST API version (``/v1/``); additive changes only within it."""

SCHEMA_VERSION = "1"
"""The version of the record formats of docs/SCHEMAS.md (``node/1``, ``frame/1``) responses carry."""


def version_line() -> str:
    """What ``treeframe --version`` prints: the release, the API and the record schema versions."""
    return f"treeframe {VERSION} (API v{API_VERSION}, schema {SCHEMA_VERSION}: node/1, frame/1)"
