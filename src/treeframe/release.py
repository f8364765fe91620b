"""The release version, in the lowest layer so that anything may name it (snapshot manifests do)."""

__all__ = ["VERSION"]

VERSION = "0.1.0"
"""This release; pyproject.toml's ``version`` (a test holds them equal)."""
