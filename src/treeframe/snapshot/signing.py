"""Ed25519 keys and manifest signatures (docs/SCHEMAS.md §15.6).

Owned by the signing work: implement the functions below; the exporter calls
:func:`sign_manifest`, the verifier :func:`check_signature`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "SignatureCheck",
    "SigningKey",
    "check_signature",
    "generate_key",
    "load_signing_key",
    "load_trusted_key",
    "sign_manifest",
]

SignatureState = Literal["unsigned", "trusted", "untrusted", "invalid"]


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key and its public key (64 hex)."""

    private: Any
    public_key: str


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on an archive's signature; ``problem`` is set when it must fail verification."""

    state: SignatureState
    public_key: str | None = None
    problem: str | None = None


def generate_key(path: Path) -> str:
    """Write a new private key to ``path`` (mode 0600) and ``path``.pub; return the public key hex."""
    raise NotImplementedError


def load_signing_key(path: Path) -> SigningKey:
    """Load a private key file written by :func:`generate_key` (ConfigError when it is not one)."""
    raise NotImplementedError


def load_trusted_key(value: str) -> str:
    """A trusted public key from ``value``: 64 hex, or a file holding it (ConfigError otherwise)."""
    raise NotImplementedError


def sign_manifest(manifest: bytes, key: SigningKey) -> bytes:
    """The ``manifest.sig`` entry's bytes for the exact ``manifest`` bytes."""
    raise NotImplementedError


def check_signature(
    manifest: bytes, signature: bytes | None, trusted: Sequence[str] = ()
) -> SignatureCheck:
    """Judge ``signature`` (the ``manifest.sig`` bytes, None when absent) against ``trusted`` keys."""
    raise NotImplementedError
