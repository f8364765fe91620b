"""Ed25519 keys and manifest signatures (docs/SCHEMAS.md §15.6).

The exporter calls :func:`sign_manifest`, the verifier :func:`check_signature`.
Private keys are PEM PKCS#8 files (what ``openssl genpkey -algorithm
ed25519`` writes, so operators keep their own tools); public keys travel as
64 hex digits, the form the archive's ``manifest.sig`` names. The
``cryptography`` package is an extra (``treeframe[signing]``): only signing
and checking need it, so an unsigned export or verify works without it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from treeframe.errors import ConfigError
from treeframe.hashing.canonical_json import canonical_json, loads

__all__ = [
    "SignatureCheck",
    "SignatureState",
    "SigningKey",
    "check_signature",
    "generate_key",
    "load_signing_key",
    "load_trusted_key",
    "sign_manifest",
]

SignatureState = Literal["unsigned", "trusted", "untrusted", "invalid"]

ALGORITHM = "ed25519"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_MAX_KEY_FILE = 16 << 10
# The encodings of the eight small-order points of Curve25519 (compared without the sign
# bit), the blocklist libsodium applies. OpenSSL verifies against them, and a signature
# under such a key "verifies" for about one message in eight while proving nothing.
_SMALL_ORDER = frozenset(
    bytes.fromhex(h)
    for h in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
)


def _small_order(public_hex: str) -> bool:
    raw = bytearray.fromhex(public_hex)
    raw[31] &= 0x7F
    return bytes(raw) in _SMALL_ORDER


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


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise ConfigError(
            "signatures need the cryptography package: pip install 'treeframe[signing]'"
        ) from exc
    return ed25519


def _public_hex(private: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return bytes(raw).hex()


def generate_key(path: Path, *, force: bool = False) -> str:
    """Write a new private key to ``path`` (mode 0600) and ``path``.pub; return the public key hex.

    Never overwrites an existing file unless ``force``: a lost private key
    cannot be recovered, and one overwritten by mistake is lost.
    """
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = _public_hex(private)
    pub_path = path.with_name(path.name + ".pub")
    if not force:
        for target in (path, pub_path):
            if target.exists() or target.is_symlink():
                raise ConfigError(f"{target} exists (use --force to replace it)")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    for target, data, mode in ((path, pem, 0o600), (pub_path, f"{public}\n".encode(), 0o644)):
        try:
            fd = os.open(target, flags, mode)
        except FileExistsError:
            raise ConfigError(f"{target} exists (use --force to replace it)") from None
        except OSError as exc:
            raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as out:
            # Before the first byte: a file replaced by --force keeps its old mode until then.
            os.fchmod(out.fileno(), mode)
            out.write(data)
    return public


def _read_small(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as source:
            data = source.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > _MAX_KEY_FILE:
        raise ConfigError(f"{path} is too large to be {what}")
    return data


def load_signing_key(path: Path) -> SigningKey:
    """Load a private key file written by :func:`generate_key` (ConfigError when it is not one)."""
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    data = _read_small(path, "a private key")
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{path} holds a {type(private).__name__}, not an Ed25519 private key")
    return SigningKey(private, _public_hex(private))


def load_trusted_key(value: str) -> str:
    """A trusted public key from ``value``: 64 hex, or a file holding it or a PEM public key.

    Raises ConfigError otherwise.
    """
    if _HEX64.fullmatch(value):
        return _usable(value, value)
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"--trust {value!r} is neither a 64-hex public key nor a key file")
    data = _read_small(path, "a public key")
    text = data.decode("ascii", errors="replace").strip()
    if _HEX64.fullmatch(text):
        return _usable(text, str(path))
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    try:
        public = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{path} holds neither a 64-hex public key nor a PEM public key"
        ) from None
    if not isinstance(public, ed25519.Ed25519PublicKey):
        raise ConfigError(f"{path} holds a {type(public).__name__}, not an Ed25519 public key")
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _usable(bytes(raw).hex(), str(path))


def _usable(public: str, source: str) -> str:
    if _small_order(public):
        raise ConfigError(f"--trust {source}: a small-order public key, which can verify forgeries")
    return public


def sign_manifest(manifest: bytes, key: SigningKey) -> bytes:
    """The ``manifest.sig`` entry's bytes for the exact ``manifest`` bytes."""
    signature = key.private.sign(manifest)
    return (
        canonical_json(
            {"algorithm": ALGORITHM, "public_key": key.public_key, "signature": signature.hex()}
        )
        + b"\n"
    )


def _parse_signature(signature: bytes) -> tuple[str, str]:
    """``(public key hex, signature hex)`` of a canonical ``manifest.sig``; ValueError otherwise."""
    if not signature.endswith(b"\n"):
        raise ValueError("it does not end with a newline")
    value = loads(signature[:-1])
    if not isinstance(value, dict) or set(value) != {"algorithm", "public_key", "signature"}:
        raise ValueError("it must hold exactly algorithm, public_key and signature")
    if value["algorithm"] != ALGORITHM:
        raise ValueError(f"algorithm {value['algorithm']!r} is not {ALGORITHM}")
    public, sig = value["public_key"], value["signature"]
    if not isinstance(public, str) or not _HEX64.fullmatch(public):
        raise ValueError("public_key is not 64 lowercase hex digits")
    if _small_order(public):
        raise ValueError(
            "public_key is a small-order point, under which a signature proves nothing"
        )
    if not isinstance(sig, str) or not _HEX128.fullmatch(sig):
        raise ValueError("signature is not 128 lowercase hex digits")
    if canonical_json(value) + b"\n" != signature:
        raise ValueError("it is not in canonical JSON form")
    return public, sig


def check_signature(
    manifest: bytes, signature: bytes | None, trusted: Sequence[str] = ()
) -> SignatureCheck:
    """Judge ``signature`` (the ``manifest.sig`` bytes, None when absent) against ``trusted`` keys.

    Never raises for hostile input: a malformed entry is ``invalid``.
    """
    if signature is None:
        problem = "the archive is unsigned but --trust was given" if trusted else None
        return SignatureCheck("unsigned", problem=problem)
    try:
        public, sig = _parse_signature(signature)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return SignatureCheck("invalid", problem=f"manifest.sig is malformed: {exc}")
    ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).verify(
            bytes.fromhex(sig), manifest
        )
    except (InvalidSignature, ValueError):
        return SignatureCheck(
            "invalid", public, problem="the signature does not match the manifest"
        )
    if public in trusted:
        return SignatureCheck("trusted", public)
    problem = f"signed by {public}, which is not a trusted key" if trusted else None
    return SignatureCheck("untrusted", public, problem=problem)
