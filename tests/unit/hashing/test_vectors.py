"""docs/test-vectors.json, checked three ways.

1. The library recomputes every vector from its human-readable inputs.
2. A tiny reference encoder written here from docs/SCHEMAS.md alone (``blake3`` and
   ``struct`` only, no treeframe imports) recomputes the encoded bytes and hashes,
   so the document and the code cannot drift apart silently.
3. The generator's output equals the committed file byte for byte, so a vector
   cannot be dropped or changed without regenerating it on purpose.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import unicodedata
from pathlib import Path
from typing import Any

import blake3
import pytest

from treeframe.frames import merkle_set
from treeframe.frames.frame import Basis, Frame, new_frame
from treeframe.hashing import ids as h
from treeframe.hashing.canonical_json import canonical_json
from treeframe.tree.paths import normalize_name
from treeframe.tree.records import NodeRecord

ROOT = Path(__file__).resolve().parents[3]
VECTORS_PATH = ROOT / "docs" / "test-vectors.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def _names(vectors: list[dict[str, Any]]) -> list[str]:
    return [v.get("name") or repr(v.get("workspace_name")) for v in vectors]


def _content(vector: dict[str, Any]) -> bytes:
    if "content_rule" in vector:
        assert vector["content_rule"] == "bytes(i % 251 for i in range(1048577))"
        return bytes(i % 251 for i in range(1048577))
    return bytes.fromhex(vector["content_hex"])


# --------------------------------------------------------------------------
# The reference encoder: written from docs/SCHEMAS.md, shares no code with
# treeframe. Keep it dumb and literal.
# --------------------------------------------------------------------------


class Ref:
    """Reference encoder for the v1 formats."""

    @staticmethod
    def u8(n: int) -> bytes:
        return struct.pack(">B", n)

    @staticmethod
    def u32(n: int) -> bytes:
        return struct.pack(">I", n)

    @classmethod
    def blob(cls, data: bytes) -> bytes:
        return cls.u32(len(data)) + data

    @classmethod
    def text(cls, value: str) -> bytes:
        return cls.blob(value.encode("utf-8"))

    @classmethod
    def ident(cls, hex_id: str) -> bytes:
        raw = bytes.fromhex(hex_id)
        assert len(raw) == 32
        assert hex_id == raw.hex()
        return cls.blob(raw)

    @staticmethod
    def hash(data: bytes) -> str:
        return blake3.blake3(data).hexdigest()

    @classmethod
    def tag(cls, name: str) -> bytes:
        return cls.blob(f"treeframe:{name}:v1".encode("ascii"))

    @classmethod
    def content(cls, data: bytes) -> bytes:
        return cls.tag("content") + data  # the content itself is not length-prefixed

    @classmethod
    def file(cls, path: str, content_hash: str, executable: bool) -> bytes:
        return (
            cls.tag("node:file")
            + cls.text(path)
            + cls.ident(content_hash)
            + cls.u8(1 if executable else 0)
        )

    @classmethod
    def symlink(cls, path: str, target: str) -> bytes:
        return cls.tag("node:symlink") + cls.text(path) + cls.text(target)

    @classmethod
    def directory(cls, path: str, children: list[tuple[str, str]]) -> bytes:
        ordered = sorted(children, key=lambda c: c[0].encode("utf-8"))
        body = b"".join(cls.text(name) + cls.ident(node) for name, node in ordered)
        return cls.tag("node:dir") + cls.text(path) + cls.u32(len(ordered)) + body

    @classmethod
    def basis(cls, basis: dict[str, Any], params_json: str | None) -> bytes:
        kind = basis["kind"]
        if kind == "node":
            fields = cls.u8(1) + cls.ident(basis["node_id"])
        elif kind == "frame":
            fields = cls.u8(2) + cls.ident(basis["frame_id"])
        elif kind == "node+frame":
            fields = cls.u8(3) + cls.ident(basis["node_id"]) + cls.ident(basis["frame_id"])
        else:
            assert params_json is not None
            children = basis["child_frames"]
            fields = (
                cls.u8(4)
                + cls.u32(len(children))
                + b"".join(cls.ident(f) for f in children)
                + cls.text(basis["policy_id"])
                + cls.blob(params_json.encode("utf-8"))
            )
        return cls.tag("basis") + fields

    @classmethod
    def frame(
        cls, node_id: str, frame_type: str, agent_id: str, basis_hash: str, content_hash: str
    ) -> bytes:
        return (
            cls.tag("frame")
            + cls.ident(node_id)
            + cls.text(frame_type)
            + cls.text(agent_id)
            + cls.ident(basis_hash)
            + cls.ident(content_hash)
        )

    @classmethod
    def leaf(cls, frame_id: str) -> str:
        return cls.hash(cls.tag("set:leaf") + cls.ident(frame_id))

    @classmethod
    def inner(cls, left: str, right: str) -> str:
        return cls.hash(cls.tag("set:inner") + cls.ident(left) + cls.ident(right))

    @classmethod
    def set_root(cls, members: list[str]) -> str:
        level = [cls.leaf(m) for m in sorted(set(members))]  # hex order == byte order
        if not level:
            return cls.hash(cls.tag("set:empty"))
        while len(level) > 1:
            nxt = [cls.inner(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])  # promoted, not duplicated
            level = nxt
        return level[0]

    @classmethod
    def verify(cls, proof: dict[str, Any], root: str) -> bool:
        digest = cls.leaf(proof["frame_id"])
        for step in proof["steps"]:
            if step["side"] == "left":
                digest = cls.inner(step["digest"], digest)
            else:
                digest = cls.inner(digest, step["digest"])
        return digest == root

    @classmethod
    def workspace(cls, name: str) -> bytes:
        return cls.tag("workspace") + cls.text(name)


# --------------------------------------------------------------------------
# Whole file
# --------------------------------------------------------------------------


def _load_generator() -> Any:
    path = ROOT / "tests" / "vectors" / "generate_vectors.py"
    spec = importlib.util.spec_from_file_location("treeframe_generate_vectors", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_file_equals_generator_output():
    generator = _load_generator()
    assert generator.render() == VECTORS_PATH.read_text(encoding="utf-8"), (
        "docs/test-vectors.json is out of date: if the format change is intended, "
        "run `python tests/vectors/generate_vectors.py` and update docs/SCHEMAS.md"
    )


def test_header_names_version_and_tags():
    assert VECTORS["version"] == 1
    assert VECTORS["tags"] == {
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
    }


def test_every_vector_list_is_populated():
    for key in ("content_hash", "file_node_id", "symlink_node_id", "dir_node_id"):
        assert VECTORS[key], key
    for key in ("basis_hash", "frame_id", "workspace_id", "nfc", "canonical_json"):
        assert VECTORS[key], key
    sizes = [len(r["members_in_append_order"]) for r in VECTORS["frame_set"]["roots"]]
    assert sizes == [0, 1, 2, 3, 5]
    assert {v["kind_code"] for v in VECTORS["basis_hash"]} == {1, 2, 3, 4}


# --------------------------------------------------------------------------
# Per vector: library and reference encoder
# --------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["content_hash"], ids=_names(VECTORS["content_hash"]))
def test_content_hash(vector):
    data = _content(vector)
    assert h.content_hash(data) == vector["content_hash"]
    hasher = h.content_hasher()
    for start in range(0, len(data), 65536):
        hasher.update(data[start : start + 65536])
    assert hasher.hexdigest() == vector["content_hash"]
    assert Ref.hash(Ref.content(data)) == vector["content_hash"]
    if "encoded_hex" in vector:
        assert Ref.content(data).hex() == vector["encoded_hex"]


@pytest.mark.parametrize("vector", VECTORS["file_node_id"], ids=_names(VECTORS["file_node_id"]))
def test_file_node_id(vector):
    path = vector["path"]
    assert path.encode("utf-8").hex() == vector["path_utf8_hex"]
    assert unicodedata.is_normalized("NFC", path)
    digest = h.content_hash(bytes.fromhex(vector["content_hex"]))
    assert digest == vector["content_hash"]
    expected = vector["node_id"]
    assert h.file_node_id(path, digest, vector["executable"]) == expected
    record = NodeRecord.file(path, digest, 0, vector["executable"])
    assert record.node_id == expected
    encoded = Ref.file(path, digest, vector["executable"])
    assert encoded.hex() == vector["encoded_hex"]
    assert Ref.hash(encoded) == expected


@pytest.mark.parametrize(
    "vector", VECTORS["symlink_node_id"], ids=_names(VECTORS["symlink_node_id"])
)
def test_symlink_node_id(vector):
    target = vector["target"]
    assert target.encode("utf-8").hex() == vector["target_utf8_hex"]
    assert h.symlink_node_id(vector["path"], target) == vector["node_id"]
    assert NodeRecord.symlink(vector["path"], target).node_id == vector["node_id"]
    encoded = Ref.symlink(vector["path"], target)
    assert encoded.hex() == vector["encoded_hex"]
    assert Ref.hash(encoded) == vector["node_id"]


@pytest.mark.parametrize("vector", VECTORS["dir_node_id"], ids=_names(VECTORS["dir_node_id"]))
def test_dir_node_id(vector):
    given = [(c["name"], c["node_id"]) for c in vector["children_as_given"]]
    ordered = [(c["name"], c["node_id"]) for c in vector["children_sorted"]]
    for child in vector["children_as_given"]:
        assert child["name"].encode("utf-8").hex() == child["name_utf8_hex"]
    record = NodeRecord.directory(vector["path"], given)
    assert list(record.children) == ordered
    assert record.node_id == vector["node_id"]
    assert h.dir_node_id(vector["path"], ordered) == vector["node_id"]
    encoded = Ref.directory(vector["path"], given)
    assert encoded.hex() == vector["encoded_hex"]
    assert Ref.hash(encoded) == vector["node_id"]


def test_dir_vector_shows_utf16_order_is_wrong():
    (vector,) = [v for v in VECTORS["dir_node_id"] if "children_utf16_order_wrong" in v]
    wrong = vector["children_utf16_order_wrong"]
    right = [c["name"] for c in vector["children_sorted"]]
    assert wrong != right
    assert sorted(right, key=lambda n: n.encode("utf-16-be")) == wrong
    as_given = {c["name"]: c["node_id"] for c in vector["children_as_given"]}
    misordered = h.dir_node_id(vector["path"], [(n, as_given[n]) for n in wrong])
    assert misordered != vector["node_id"]


@pytest.mark.parametrize("vector", VECTORS["basis_hash"], ids=_names(VECTORS["basis_hash"]))
def test_basis_hash(vector):
    basis = Basis.from_dict(vector["basis"])
    assert basis.to_dict() == vector["basis"]
    if basis.kind == "synthesis":
        assert basis.params_json == vector["params_json"].encode("utf-8")
        assert canonical_json(vector["basis"]["params"]).decode() == vector["params_json"]
    assert basis.hash() == vector["basis_hash"]
    encoded = Ref.basis(vector["basis"], vector.get("params_json"))
    assert encoded[len(Ref.tag("basis"))] == vector["kind_code"]
    assert encoded.hex() == vector["encoded_hex"]
    assert Ref.hash(encoded) == vector["basis_hash"]


@pytest.mark.parametrize("vector", VECTORS["frame_id"], ids=_names(VECTORS["frame_id"]))
def test_frame_id(vector):
    content = bytes.fromhex(vector["content_hex"])
    basis = Basis.from_dict(vector["basis"])
    assert basis.hash() == vector["basis_hash"]
    frame = new_frame(
        vector["node_id"],
        vector["frame_type"],
        vector["agent_id"],
        content,
        basis=basis,
        content_type=vector["not_hashed"]["content_type"],
        metadata=vector["not_hashed"]["metadata"],
    )
    assert frame.content_hash == vector["content_hash"]
    assert frame.frame_id == vector["frame_id"]
    assert frame.compute_id() == vector["frame_id"]
    encoded = Ref.frame(
        vector["node_id"],
        vector["frame_type"],
        vector["agent_id"],
        vector["basis_hash"],
        Ref.hash(Ref.content(content)),
    )
    assert encoded.hex() == vector["encoded_hex"]
    assert Ref.hash(encoded) == vector["frame_id"]


def test_frame_vectors_metadata_does_not_change_the_id():
    by_name = {v["name"]: v for v in VECTORS["frame_id"]}
    plain = by_name["node basis (the default)"]
    decorated = by_name["same inputs with metadata and another content type: same FrameID"]
    assert decorated["not_hashed"] != plain["not_hashed"]
    assert decorated["frame_id"] == plain["frame_id"]


def test_set_empty_root():
    empty = VECTORS["frame_set"]["empty_root"]
    assert h.set_empty_root().hex() == empty["root"]
    assert empty["root"] == merkle_set.EMPTY_ROOT
    assert merkle_set.root_of([]) == empty["root"]
    assert Ref.tag("set:empty").hex() == empty["encoded_hex"]
    assert Ref.hash(Ref.tag("set:empty")) == empty["root"]


def test_set_leaf_and_inner():
    leaf = VECTORS["frame_set"]["leaf"]
    assert h.set_leaf(bytes.fromhex(leaf["frame_id"])).hex() == leaf["digest"]
    assert (Ref.tag("set:leaf") + Ref.ident(leaf["frame_id"])).hex() == leaf["encoded_hex"]
    assert Ref.leaf(leaf["frame_id"]) == leaf["digest"]
    inner = VECTORS["frame_set"]["inner"]
    raw = h.set_inner(bytes.fromhex(inner["left"]), bytes.fromhex(inner["right"]))
    assert raw.hex() == inner["digest"]
    encoded = Ref.tag("set:inner") + Ref.ident(inner["left"]) + Ref.ident(inner["right"])
    assert encoded.hex() == inner["encoded_hex"]
    assert Ref.inner(inner["left"], inner["right"]) == inner["digest"]


@pytest.mark.parametrize(
    "vector", VECTORS["frame_set"]["roots"], ids=_names(VECTORS["frame_set"]["roots"])
)
def test_set_root(vector):
    members = vector["members_in_append_order"]
    assert sorted(members) == vector["members_sorted"]
    assert [Ref.leaf(m) for m in vector["members_sorted"]] == vector["leaves_sorted"]
    assert merkle_set.root_of(members) == vector["root"]
    assert merkle_set.root_of(reversed(members)) == vector["root"]
    assert Ref.set_root(members) == vector["root"]


def test_set_members_are_real_note_frames():
    (five,) = [r for r in VECTORS["frame_set"]["roots"] if len(r["members_sorted"]) == 5]
    readme = VECTORS["file_node_id"][0]["node_id"]
    expected = [
        new_frame(readme, "note", "agent-1", f"note {i}\n".encode()).frame_id for i in range(5)
    ]
    assert five["members_in_append_order"] == expected


@pytest.mark.parametrize(
    "vector", VECTORS["frame_set"]["proofs"], ids=_names(VECTORS["frame_set"]["proofs"])
)
def test_membership_proof(vector):
    members = vector["members"]
    proof = merkle_set.MembershipProof.from_dict(vector["proof"])
    assert merkle_set.prove(members, proof.frame_id).to_dict() == vector["proof"]
    assert merkle_set.root_of(members) == vector["root"]
    assert merkle_set.verify(proof, vector["root"])
    assert Ref.verify(vector["proof"], vector["root"])
    assert Ref.set_root(members) == vector["root"]


@pytest.mark.parametrize("vector", VECTORS["workspace_id"], ids=_names(VECTORS["workspace_id"]))
def test_workspace_id(vector):
    name = vector["workspace_name"]
    assert name.encode("utf-8").hex() == vector["workspace_name_utf8_hex"]
    assert h.workspace_id(name) == vector["workspace_id"]
    assert Ref.workspace(name).hex() == vector["encoded_hex"]
    assert Ref.hash(Ref.workspace(name)) == vector["workspace_id"]


@pytest.mark.parametrize("vector", VECTORS["nfc"], ids=_names(VECTORS["nfc"]))
def test_nfc_rule(vector):
    raw = bytes.fromhex(vector["input_utf8_hex"])
    assert [f"U+{ord(c):04X}" for c in raw.decode("utf-8")] == vector["input_codepoints"]
    normalized = normalize_name(raw)
    assert normalized == vector["nfc"]
    assert normalized.encode("utf-8").hex() == vector["nfc_utf8_hex"]
    assert [f"U+{ord(c):04X}" for c in normalized] == vector["nfc_codepoints"]
    assert unicodedata.normalize("NFC", raw.decode("utf-8")) == vector["nfc"]


@pytest.mark.parametrize("vector", VECTORS["canonical_json"], ids=_names(VECTORS["canonical_json"]))
def test_canonical_json(vector):
    encoded = canonical_json(vector["value"])
    assert encoded.decode("utf-8") == vector["canonical"]
    assert encoded.hex() == vector["canonical_utf8_hex"]
    # An independent encoder from the doc's rules.
    ref = json.dumps(
        vector["value"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert ref == encoded


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS["canonical_json"] if v["name"].startswith("node/1")],
    ids=lambda v: v["name"],
)
def test_canonical_node_record_round_trips(vector):
    record = NodeRecord.from_json(vector["canonical"].encode("utf-8"))
    assert record.compute_id() == record.node_id
    assert record.to_json().decode("utf-8") == vector["canonical"]


def test_canonical_frame_record_round_trips():
    (vector,) = [v for v in VECTORS["canonical_json"] if v["name"] == "frame/1 record"]
    frame = Frame.from_json(vector["canonical"].encode("utf-8"))
    assert frame.compute_id() == frame.frame_id
    assert frame.to_json().decode("utf-8") == vector["canonical"]
