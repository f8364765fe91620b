"""Generate docs/test-vectors.json from the library (run by hand after a deliberate format change).

Usage, from the repository root::

    python tests/vectors/generate_vectors.py            # rewrite docs/test-vectors.json
    python tests/vectors/generate_vectors.py --check    # exit 1 if the file is out of date

``tests/unit/hashing/test_vectors.py`` recomputes every vector from its inputs and
also compares this generator's output with the committed file, so an accidental
format change fails the suite. Regenerate only when the change is intended, and
bump the affected tag's version (see docs/SCHEMAS.md).

The file is written with ASCII escapes (``\\u00e9``) so that no editor or tool can
silently re-normalize the non-ASCII inputs; every such input also carries its
UTF-8 bytes in hex.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

from treeframe.frames import merkle_set
from treeframe.frames.frame import Basis, Frame, new_frame
from treeframe.hashing import ids as h
from treeframe.hashing.canonical_json import canonical_json
from treeframe.hashing.encoding import blob, count, tagged, text, u8
from treeframe.ids import FrameId, NodeId
from treeframe.tree.records import NodeRecord

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "test-vectors.json"
VECTORS_VERSION = 1

# The 1 MiB + 1 byte content vector is described by a rule, not embedded.
BIG_RULE = "bytes(i % 251 for i in range(1048577))"


def big_content() -> bytes:
    """The bytes described by ``BIG_RULE``."""
    return bytes(i % 251 for i in range(1048577))


def _utf8_hex(value: str) -> str:
    return value.encode("utf-8").hex()


def _codepoints(value: str) -> list[str]:
    return [f"U+{ord(ch):04X}" for ch in value]


def _raw(hex_id: str) -> bytes:
    return bytes.fromhex(hex_id)


def _content_vectors() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, data in [
        ("empty", b""),
        ("hello newline", b"hello\n"),
        ("bytes with a NUL", b"a\x00b"),
    ]:
        out.append(
            {
                "name": name,
                "content_hex": data.hex(),
                "encoded_hex": (blob(h.TAG_CONTENT) + data).hex(),
                "content_hash": h.content_hash(data),
            }
        )
    big = big_content()
    out.append(
        {
            "name": "1 MiB + 1 byte pattern",
            "content_rule": BIG_RULE,
            "content_length": len(big),
            "content_hash": h.content_hash(big),
        }
    )
    return out


def _file_vectors() -> list[dict[str, Any]]:
    out = []
    for name, path, content, executable in [
        ("plain", "README.md", b"hello\n", False),
        ("executable", "bin/run.sh", b"#!/bin/sh\necho hi\n", True),
        ("nested path", "src/treeframe/hashing/ids.py", b"print('x')\n", False),
        ("non-ASCII NFC path", "docs/caf\u00e9/na\u00efve.txt", b"caf\xc3\xa9\n", False),
    ]:
        digest = h.content_hash(content)
        encoded = tagged(h.TAG_FILE, text(path), blob(_raw(digest)), u8(1 if executable else 0))
        out.append(
            {
                "name": name,
                "path": path,
                "path_utf8_hex": _utf8_hex(path),
                "content_hex": content.hex(),
                "content_hash": digest,
                "executable": executable,
                "encoded_hex": encoded.hex(),
                "node_id": h.file_node_id(path, digest, executable),
            }
        )
    return out


def _symlink_vectors() -> list[dict[str, Any]]:
    out = []
    for name, path, target in [
        ("relative target", "link", "README.md"),
        ("parent target", "bin/up", "../README.md"),
        ("absolute target", "tmp", "/tmp"),
        ("non-ASCII target kept verbatim (NFD, not normalized)", "accent", "cafe\u0301"),
    ]:
        out.append(
            {
                "name": name,
                "path": path,
                "target": target,
                "target_utf8_hex": _utf8_hex(target),
                "encoded_hex": tagged(h.TAG_SYMLINK, text(path), text(target)).hex(),
                "node_id": h.symlink_node_id(path, target),
            }
        )
    return out


def _child(name: str, node_id: str) -> dict[str, str]:
    return {"name": name, "name_utf8_hex": _utf8_hex(name), "node_id": node_id}


def _dir_vector(name: str, record: NodeRecord, given: list[tuple[str, NodeId]]) -> dict[str, Any]:
    entries = (text(n) + blob(_raw(c)) for n, c in record.children)
    return {
        "name": name,
        "path": record.path,
        "path_utf8_hex": _utf8_hex(record.path),
        "children_as_given": [_child(n, c) for n, c in given],
        "children_sorted": [_child(n, c) for n, c in record.children],
        "encoded_hex": tagged(h.TAG_DIR, text(record.path), count(entries)).hex(),
        "node_id": record.node_id,
    }


def _dir_vectors() -> list[dict[str, Any]]:
    empty_root = NodeRecord.directory("", [])
    lib = "src/lib"
    fullwidth = "\uff21.txt"  # U+FF21 FULLWIDTH LATIN CAPITAL LETTER A
    emoji = "\U0001f600.txt"  # U+1F600, a surrogate pair in UTF-16
    plain = "B.txt"
    given = [
        (emoji, NodeRecord.file(f"{lib}/{emoji}", h.content_hash(b"grin\n"), 5, False).node_id),
        (fullwidth, NodeRecord.symlink(f"{lib}/{fullwidth}", emoji).node_id),
        (plain, NodeRecord.file(f"{lib}/{plain}", h.content_hash(b""), 0, True).node_id),
    ]
    nested = NodeRecord.directory(lib, list(given))
    utf16_order = sorted((n for n, _ in given), key=lambda n: n.encode("utf-16-be"))
    lib_vector = _dir_vector(
        "nested, 3 children (UTF-8 byte order differs from UTF-16)", nested, given
    )
    lib_vector["children_utf16_order_wrong"] = utf16_order
    readme = NodeRecord.file("README.md", h.content_hash(b"hello\n"), 6, False)
    src = NodeRecord.directory("src", [("lib", nested.node_id)])
    root_given = [("src", src.node_id), ("README.md", readme.node_id)]
    root = NodeRecord.directory("", list(root_given))
    return [
        _dir_vector("empty root directory", empty_root, []),
        lib_vector,
        _dir_vector("single child", src, [("lib", nested.node_id)]),
        _dir_vector("root of a small tree", root, root_given),
    ]


NODE_A = h.file_node_id("README.md", h.content_hash(b"hello\n"), False)
NODE_B = h.dir_node_id("", [])
FRAME_A = h.frame_id(
    NODE_A, "summary", "agent-1", Basis.node(NODE_A).hash(), h.content_hash(b"A readme.")
)
FRAME_B = h.frame_id(
    NODE_A, "analysis", "agent-2", Basis.node(NODE_A).hash(), h.content_hash(b"Looks fine.")
)


def _basis_examples() -> list[tuple[str, Basis]]:
    return [
        ("node", Basis.node(NODE_A)),
        ("frame", Basis.frame(FRAME_A)),
        ("node+frame", Basis.node_frame(NODE_A, FRAME_A)),
        ("synthesis, no params", Basis.synthesis([FRAME_A], "concat")),
        (
            "synthesis with params",
            Basis.synthesis(
                [FRAME_B, FRAME_A],
                "summary",
                {"max_bytes": 4096, "separator": "\n\n", "lang": "fr"},
            ),
        ),
        ("synthesis, no children", Basis.synthesis([], "concat", {"empty": True})),
    ]


def _basis_fields(basis: Basis) -> bytes:
    if basis.kind == "node":
        return blob(_raw(basis.node_id or ""))
    if basis.kind == "frame":
        return blob(_raw(basis.frame_id or ""))
    if basis.kind == "node+frame":
        return blob(_raw(basis.node_id or "")) + blob(_raw(basis.frame_id or ""))
    children = count(blob(_raw(f)) for f in basis.child_frames)
    return children + text(basis.policy_id) + blob(basis.params_json)


_KIND_CODE = {"node": 1, "frame": 2, "node+frame": 3, "synthesis": 4}


def _basis_vectors() -> list[dict[str, Any]]:
    out = []
    for name, basis in _basis_examples():
        vector: dict[str, Any] = {
            "name": name,
            "basis": basis.to_dict(),
            "kind_code": _KIND_CODE[basis.kind],
        }
        if basis.kind == "synthesis":
            vector["params_json"] = basis.params_json.decode("utf-8")
        encoded = tagged(h.TAG_BASIS, u8(_KIND_CODE[basis.kind]), _basis_fields(basis))
        vector["encoded_hex"] = encoded.hex()
        vector["basis_hash"] = basis.hash()
        out.append(vector)
    return out


def _frame_examples() -> list[tuple[str, Frame, bytes]]:
    def make(name: str, content: bytes, **kwargs: Any) -> tuple[str, Frame, bytes]:
        args = {"node_id": NODE_A, "frame_type": "summary", "agent_id": "agent-1"}
        args.update(kwargs)
        return name, new_frame(content=content, **args), content

    synthesis = Basis.synthesis([FRAME_B, FRAME_A], "concat", {"separator": "\n"})
    return [
        make("node basis (the default)", b"A readme."),
        make(
            "same inputs with metadata and another content type: same FrameID",
            b"A readme.",
            content_type="text/markdown; charset=utf-8",
            metadata={"model": "m-1", "note": "caf\u00e9"},
        ),
        make("another agent", b"A readme.", agent_id="agent-2"),
        make("another frame type", b"A readme.", frame_type="note"),
        make("frame basis", b"Summary of a summary.", basis=Basis.frame(FRAME_A)),
        make(
            "synthesis basis on a directory",
            b"A readme.\nLooks fine.\n",
            node_id=NODE_B,
            basis=synthesis,
            agent_id="synth@treeframe",
        ),
        make(
            "empty binary content", b"", frame_type="blob", content_type="application/octet-stream"
        ),
    ]


def _frame_vectors() -> list[dict[str, Any]]:
    out = []
    for name, frame, content in _frame_examples():
        basis = frame.basis.hash()
        encoded = tagged(
            h.TAG_FRAME,
            blob(_raw(frame.node_id)),
            text(frame.frame_type),
            text(frame.agent_id),
            blob(_raw(basis)),
            blob(_raw(frame.content_hash)),
        )
        out.append(
            {
                "name": name,
                "node_id": frame.node_id,
                "frame_type": frame.frame_type,
                "agent_id": frame.agent_id,
                "basis": frame.basis.to_dict(),
                "basis_hash": basis,
                "content_hex": content.hex(),
                "content_hash": frame.content_hash,
                "not_hashed": {
                    "content_type": frame.content_type,
                    "metadata": dict(frame.metadata),
                },
                "encoded_hex": encoded.hex(),
                "frame_id": frame.frame_id,
            }
        )
    return out


def _members(n: int) -> list[FrameId]:
    """n FrameIDs of notes on README.md, in the order they were appended."""
    return [new_frame(NODE_A, "note", "agent-1", f"note {i}\n".encode()).frame_id for i in range(n)]


def _set_vectors() -> dict[str, Any]:
    empty_encoded = tagged(h.TAG_SET_EMPTY)
    one = _members(1)[0]
    two = _members(2)
    roots = []
    for n in (0, 1, 2, 3, 5):
        members = _members(n)
        roots.append(
            {
                "name": f"{n} members",
                "members_in_append_order": members,
                "members_sorted": sorted(members),
                "leaves_sorted": [h.set_leaf(_raw(m)).hex() for m in sorted(members)],
                "root": merkle_set.root_of(members),
            }
        )
    five = _members(5)
    proofs = []
    for index in (0, 2, 4):
        member = sorted(five)[index]
        proofs.append(
            {
                "name": f"member at sorted index {index} of 5",
                "members": five,
                "root": merkle_set.root_of(five),
                "proof": merkle_set.prove(five, member).to_dict(),
            }
        )
    return {
        "empty_root": {
            "encoded_hex": empty_encoded.hex(),
            "root": h.set_empty_root().hex(),
        },
        "leaf": {
            "frame_id": one,
            "encoded_hex": tagged(h.TAG_SET_LEAF, blob(_raw(one))).hex(),
            "digest": h.set_leaf(_raw(one)).hex(),
        },
        "inner": {
            "left": h.set_leaf(_raw(min(two))).hex(),
            "right": h.set_leaf(_raw(max(two))).hex(),
            "encoded_hex": tagged(
                h.TAG_SET_INNER, blob(h.set_leaf(_raw(min(two)))), blob(h.set_leaf(_raw(max(two))))
            ).hex(),
            "digest": h.set_inner(h.set_leaf(_raw(min(two))), h.set_leaf(_raw(max(two)))).hex(),
        },
        "roots": roots,
        "proofs": proofs,
    }


def _workspace_vectors() -> list[dict[str, Any]]:
    out = []
    for name in ["default", "my-project", "\u00e9quipe/\u03b1", ""]:
        out.append(
            {
                "workspace_name": name,
                "workspace_name_utf8_hex": _utf8_hex(name),
                "encoded_hex": tagged(h.TAG_WORKSPACE, text(name)).hex(),
                "workspace_id": h.workspace_id(name),
            }
        )
    return out


def _nfc_vectors() -> list[dict[str, Any]]:
    out = []
    for name, raw in [
        ("e + combining acute", "cafe\u0301.txt"),
        ("Hangul jamo", "\u1112\u1161\u11ab"),
        ("ANGSTROM SIGN is a singleton", "\u212b"),
        ("already NFC", "caf\u00e9.txt"),
    ]:
        nfc = unicodedata.normalize("NFC", raw)
        out.append(
            {
                "name": name,
                "input_utf8_hex": _utf8_hex(raw),
                "input_codepoints": _codepoints(raw),
                "nfc": nfc,
                "nfc_utf8_hex": _utf8_hex(nfc),
                "nfc_codepoints": _codepoints(nfc),
            }
        )
    return out


def _canonical_json_vectors() -> list[dict[str, Any]]:
    record = NodeRecord.file("docs/caf\u00e9.md", h.content_hash(b"hello\n"), 6, True)
    frame = new_frame(
        NODE_A,
        "summary",
        "agent-1",
        "R\u00e9sum\u00e9.\n".encode(),
        basis=Basis.synthesis([FRAME_A], "concat", {"separator": "\n", "max": 2}),
        metadata={"model": "m-1", "tokens": "12"},
    )
    frame = dataclasses.replace(frame, seq=7, created_at="2024-05-01T12:00:00.000000Z")
    directory = NodeRecord.directory("", [("README.md", NODE_A), ("a\tb", NODE_B)])
    symlink = NodeRecord.symlink("link", "README.md")
    out = []
    for name, value in [
        ("node/1 file record", record.to_dict()),
        ("node/1 dir record", directory.to_dict()),
        ("node/1 symlink record", symlink.to_dict()),
        ("frame/1 record", frame.to_dict()),
        (
            "escapes and key order",
            {"b": [True, None, -1, 0], "a": '\u00e9\n"\\\x01\u2028', "A": {}},
        ),
    ]:
        encoded = canonical_json(value)
        out.append(
            {
                "name": name,
                "value": value,
                "canonical": encoded.decode("utf-8"),
                "canonical_utf8_hex": encoded.hex(),
            }
        )
    return out


def build() -> dict[str, Any]:
    """All vectors as one JSON-ready document."""
    return {
        "format": "treeframe test vectors",
        "version": VECTORS_VERSION,
        "hash": "BLAKE3-256 (32-byte digest), IDs as 64 lowercase hex",
        "spec": "docs/SCHEMAS.md",
        "generator": "tests/vectors/generate_vectors.py",
        "tags": {
            "content": h.TAG_CONTENT.decode(),
            "file": h.TAG_FILE.decode(),
            "symlink": h.TAG_SYMLINK.decode(),
            "dir": h.TAG_DIR.decode(),
            "basis": h.TAG_BASIS.decode(),
            "frame": h.TAG_FRAME.decode(),
            "set_leaf": h.TAG_SET_LEAF.decode(),
            "set_inner": h.TAG_SET_INNER.decode(),
            "set_empty": h.TAG_SET_EMPTY.decode(),
            "workspace": h.TAG_WORKSPACE.decode(),
        },
        "content_hash": _content_vectors(),
        "file_node_id": _file_vectors(),
        "symlink_node_id": _symlink_vectors(),
        "dir_node_id": _dir_vectors(),
        "basis_hash": _basis_vectors(),
        "frame_id": _frame_vectors(),
        "frame_set": _set_vectors(),
        "workspace_id": _workspace_vectors(),
        "nfc": _nfc_vectors(),
        "canonical_json": _canonical_json_vectors(),
    }


def render() -> str:
    """The exact text of docs/test-vectors.json."""
    return json.dumps(build(), indent=2, ensure_ascii=True) + "\n"


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` compare) the vectors file."""
    rendered = render()
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != rendered:
            print(f"{OUTPUT} is out of date; rerun {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(rendered, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
