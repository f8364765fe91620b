"""Ed25519 manifest signatures and key files (docs/SCHEMAS.md §15.6)."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from treeframe.errors import ConfigError
from treeframe.hashing.canonical_json import canonical_json
from treeframe.snapshot.signing import (
    check_signature,
    generate_key,
    load_signing_key,
    load_trusted_key,
    sign_manifest,
)

MANIFEST = b'{"format":"treeframe-snapshot"}\n'


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "signing.key"
    return path, generate_key(path)


def test_round_trip_is_trusted_and_deterministic(key: tuple[Path, str]) -> None:
    path, public = key
    loaded = load_signing_key(path)
    assert loaded.public_key == public
    signature = sign_manifest(MANIFEST, loaded)
    assert signature == sign_manifest(MANIFEST, load_signing_key(path))  # ed25519 is deterministic
    check = check_signature(MANIFEST, signature, [public])
    assert (check.state, check.public_key, check.problem) == ("trusted", public, None)


def test_key_files_are_private_and_never_overwritten(key: tuple[Path, str]) -> None:
    path, public = key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.with_name("signing.key.pub").read_text() == public + "\n"
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="exists"):
        generate_key(path)
    assert path.read_bytes() == before
    assert generate_key(path, force=True) != public


def test_force_replaces_a_world_readable_file_with_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("old\n")
    path.chmod(0o644)
    generate_key(path, force=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signing_key(path).public_key == path.with_name("k.pub").read_text().strip()


def test_an_existing_public_file_stops_keygen_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text("old\n")
    with pytest.raises(ConfigError, match="exists"):
        generate_key(tmp_path / "k")
    assert not (tmp_path / "k").exists()


def test_a_changed_manifest_or_signature_is_invalid(key: tuple[Path, str]) -> None:
    path, public = key
    signature = sign_manifest(MANIFEST, load_signing_key(path))
    assert check_signature(MANIFEST.replace(b"t", b"T", 1), signature, []).state == "invalid"
    flipped = bytearray(signature)
    flipped[-10] = ord("0") if flipped[-10] != ord("0") else ord("1")
    changed = check_signature(MANIFEST, bytes(flipped), [public])
    assert changed.state == "invalid"
    assert changed.problem


def test_another_key_is_untrusted_and_a_problem_only_under_trust(
    key: tuple[Path, str], tmp_path: Path
) -> None:
    path, public = key
    other = generate_key(tmp_path / "other.key")
    signature = sign_manifest(MANIFEST, load_signing_key(path))
    assert check_signature(MANIFEST, signature, []).problem is None
    assert check_signature(MANIFEST, signature, []).state == "untrusted"
    refused = check_signature(MANIFEST, signature, [other])
    assert (refused.state, refused.public_key) == ("untrusted", public)
    assert refused.problem is not None
    assert check_signature(MANIFEST, signature, [other, public]).state == "trusted"


def test_unsigned_is_a_problem_only_under_trust(key: tuple[Path, str]) -> None:
    _, public = key
    assert check_signature(MANIFEST, None, []) == check_signature(MANIFEST, None)
    assert check_signature(MANIFEST, None).problem is None
    assert check_signature(MANIFEST, None, [public]).problem is not None


def _sig(**fields: object) -> bytes:
    return canonical_json(fields) + b"\n"


@pytest.mark.parametrize(
    "entry",
    [
        b"not json\n",
        b"",
        b"[]\n",
        b'{"algorithm":"ed25519"}',
        _sig(algorithm="rsa", public_key="0" * 64, signature="0" * 128),
        _sig(algorithm="ed25519", public_key="0" * 63, signature="0" * 128),
        _sig(algorithm="ed25519", public_key="0" * 64, signature="0" * 127),
        _sig(algorithm="ed25519", public_key="G" * 64, signature="0" * 128),
        _sig(algorithm="ed25519", public_key="A" * 64, signature="0" * 128),
        _sig(algorithm="ed25519", public_key="0" * 64, signature="0" * 128, extra=1),
        _sig(algorithm="ed25519", public_key=1, signature="0" * 128),
        b'{"public_key":"'
        + b"0" * 64
        + b'","algorithm":"ed25519","signature":"'
        + b"0" * 128
        + b'"}\n',
        b"\xff\xfe\n",
        b"[" * 5000 + b"]" * 5000 + b"\n",
    ],
)
def test_malformed_signature_entries_are_invalid_without_exceptions(entry: bytes) -> None:
    check = check_signature(MANIFEST, entry, [])
    assert check.state == "invalid"
    assert check.problem


def test_trusted_keys_from_hex_pub_file_and_pem(key: tuple[Path, str], tmp_path: Path) -> None:
    path, public = key
    assert load_trusted_key(public) == public
    assert load_trusted_key(str(path.with_name("signing.key.pub"))) == public
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the PEM interoperability half needs it")
    pem = tmp_path / "public.pem"
    subprocess.run(["openssl", "pkey", "-in", str(path), "-pubout", "-out", str(pem)], check=True)
    assert load_trusted_key(str(pem)) == public


def test_an_openssl_private_key_signs(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    path = tmp_path / "ossl.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(path)], check=True)
    loaded = load_signing_key(path)
    assert check_signature(
        MANIFEST, sign_manifest(MANIFEST, loaded), [loaded.public_key]
    ).state == ("trusted")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not an unencrypted PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PEM"),
        (b"x" * 20000, "too large"),
    ],
)
def test_bad_private_key_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_signing_key(path)


def test_a_non_ed25519_private_key_is_refused(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    path = tmp_path / "ec.key"
    subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    with pytest.raises(ConfigError, match="not an Ed25519"):
        load_signing_key(path)


SMALL_ORDER = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"


def test_small_order_public_keys_never_verify() -> None:
    # Under the all-zero key a zero signature passes OpenSSL's check for ~1 message in 8.
    forged = [
        _sig(algorithm="ed25519", public_key=key, signature="0" * 128)
        for key in ("0" * 64, "01" + "0" * 62, SMALL_ORDER, SMALL_ORDER[:-2] + "fa")
    ]
    for n in range(64):
        manifest = b'{"n":%d}\n' % n
        for entry in forged:
            assert check_signature(manifest, entry, []).state == "invalid"


@pytest.mark.parametrize(
    "value", ["", "abc", "0" * 65, "Z" * 64, "/nonexistent/key.pub", "0" * 64, SMALL_ORDER]
)
def test_bad_trusted_keys(value: str) -> None:
    with pytest.raises(ConfigError):
        load_trusted_key(value)


def test_a_trust_file_of_junk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.pub"
    path.write_text("hello\n")
    with pytest.raises(ConfigError, match="neither"):
        load_trusted_key(str(path))
    path.write_text("ab" * 32 + "\n")
    assert load_trusted_key(str(path)) == "ab" * 32


def test_keygen_command(tmp_path: Path) -> None:
    from tests.cli.helpers import run_cli_in_process

    made = run_cli_in_process(tmp_path, "keygen", "release.key", "--json")
    assert made.code == 0, made.stderr
    public = made.json()["public_key"]
    assert load_signing_key(tmp_path / "release.key").public_key == public
    again = run_cli_in_process(tmp_path, "keygen", "release.key")
    assert again.code == 1
    assert again.stderr.count("\n") == 1
    assert "exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert load_signing_key(tmp_path / "release.key").public_key == public
