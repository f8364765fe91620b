"""verify_archive over real exports (``treeframe export``) of a scanned workspace, signed or not."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli_in_process
from tests.snapshot.archives import unbound_offsets
from tests.snapshot.test_verify import RecordingSink
from treeframe.snapshot.verify import VerifyReport, verify_archive

FILES = {
    "README.md": b"hello\n",
    "run.sh": b"#!/bin/sh\necho hi\n",
    "src/a.py": b"print('a')\n",
    "src/lib/b.py": b"print('b')\n",
    "src/lib/c.py": b"print('c')\n",
    "docs/guide.md": b"# Guide\n",
}


def cli(root: Path, *args: str) -> str:
    result = run_cli_in_process(root, *args)
    assert result.code == 0, (args, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scanned workspace with frames (one re-put), exported whole, by subtree, compressed, signed."""
    root = tmp_path_factory.mktemp("exports") / "ws"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    os.chmod(root / "run.sh", 0o755)
    os.symlink("README.md", root / "link")
    cli(root, "init")
    cli(root, "agent", "add", "a1", "--role", "writer")
    cli(root, "agent", "add", "a2", "--role", "writer")
    cli(root, "scan")
    cli(root, "put", "README.md", "--type", "summary", "--agent", "a1", "--content", "A readme.")
    cli(root, "put", "README.md", "--type", "summary", "--agent", "a2", "--content", "Another.")
    cli(root, "put", "README.md", "--type", "note", "--agent", "a1", "--content", "A readme.")
    cli(root, "put", "README.md", "--type", "summary", "--agent", "a1", "--content", "A readme.")
    cli(root, "put", "src/lib", "--type", "summary", "--agent", "a2", "--content", "Library.")
    cli(root, "put", "src/lib/b.py", "--type", "summary", "--agent", "a1", "--content", "b")
    cli(root, "put", ".", "--type", "summary", "--agent", "a1", "--content", "Everything.")
    out = root.parent / "out"
    out.mkdir()
    cli(root, "keygen", str(out / "key"))
    cli(root, "keygen", str(out / "other"))
    cli(root, "export", "-o", str(out / "whole.tar"))
    cli(root, "export", "--path", "src/lib", "-o", str(out / "lib.tar"))
    cli(root, "export", "--path", "src/lib/b.py", "-o", str(out / "b.tar"))
    cli(root, "export", "--compression", "zstd", "-o", str(out / "whole.tar.zst"))
    cli(root, "export", "--compression", "gzip", "-o", str(out / "whole.tar.gz"))
    cli(root, "export", "--sign", str(out / "key"), "-o", str(out / "signed.tar"))
    return out


def verify(path: Path, **kwargs: object) -> VerifyReport:
    with path.open("rb") as handle:
        return verify_archive(handle, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["whole.tar", "lib.tar", "b.tar", "whole.tar.zst", "whole.tar.gz", "signed.tar"]
)
def test_a_real_export_verifies(exported: Path, name: str) -> None:
    report = verify(exported / name)
    assert report.problems == []
    manifest = report.manifest
    assert manifest is not None
    assert report.checked["nodes"] == manifest.counts.nodes
    assert report.checked["frames"] == manifest.counts.frames
    assert report.checked["contents"] == manifest.counts.contents
    assert report.checked["bytes_read"] == (exported / name).stat().st_size


def test_a_real_export_feeds_a_sink_everything(exported: Path) -> None:
    sink = RecordingSink()
    with (exported / "whole.tar").open("rb") as handle:
        report = verify_archive(handle, sink=sink)
    assert report.ok
    assert report.manifest is not None
    counts = report.manifest.counts
    kinds = [kind for kind, _ in sink.items]
    assert kinds.count("agent") == counts.agents
    assert kinds.count("node") == counts.nodes
    assert kinds.count("frame") == counts.frames
    assert kinds.count("frame_set") == counts.frame_sets
    assert kinds.count("head") == counts.heads
    assert kinds.count("content") == counts.contents
    assert counts.frames >= 6


def test_a_signed_export_is_judged_against_the_trusted_keys(exported: Path) -> None:
    key = (exported / "key.pub").read_text().strip()
    other = (exported / "other.pub").read_text().strip()
    signed, unsigned = exported / "signed.tar", exported / "whole.tar"
    plain = verify(signed)
    assert (plain.signature, plain.signer, plain.ok) == ("untrusted", key, True)
    trusted = verify(signed, trust=[key])
    assert (trusted.signature, trusted.ok) == ("trusted", True)
    by_file = verify(signed, trust=[other, key])
    assert by_file.signature == "trusted"
    stranger = verify(signed, trust=[other])
    assert stranger.signature == "untrusted"
    assert [p.code for p in stranger.problems] == ["signature"]
    nobody = verify(unsigned, trust=[key])
    assert nobody.signature == "unsigned"
    assert [p.code for p in nobody.problems] == ["signature"]


def test_every_byte_of_a_signed_export_is_bound(exported: Path) -> None:
    """With a signature even the manifest's free text is covered: no byte may change unnoticed."""
    key = (exported / "key.pub").read_text().strip()
    signed_small = exported / "b-signed.tar"
    root = exported.parent / "ws"
    cli(
        root,
        "export",
        "--path",
        "src/lib/b.py",
        "--sign",
        str(exported / "key"),
        "-o",
        str(signed_small),
    )
    data = signed_small.read_bytes()
    assert verify_archive(io.BytesIO(data), trust=[key]).ok
    missed = []
    for offset in range(len(data)):
        changed = bytearray(data)
        changed[offset] ^= 0x01
        if verify_archive(io.BytesIO(bytes(changed))).ok:
            missed.append(offset)
    assert missed == []


def test_a_sample_of_flips_in_a_real_export_is_detected(exported: Path) -> None:
    data = (exported / "whole.tar").read_bytes()
    unbound = unbound_offsets(data)
    missed = []
    for offset in range(0, len(data), 7):
        changed = bytearray(data)
        changed[offset] ^= 0x01
        if verify_archive(io.BytesIO(bytes(changed))).ok and offset not in unbound:
            missed.append(offset)
    assert missed == []
