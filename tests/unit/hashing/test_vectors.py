"""docs/test-vectors.json, checked three ways.

1. The library recomputes every vector from its human-readable inputs; the tree
   vectors are built on disk and scanned, the synthesis vectors synthesized.
2. A small reference written here from docs/SCHEMAS.md alone (``blake3``,
   ``struct``, ``json`` and ``unicodedata``, no treeframe imports) recomputes the
   encoded bytes and hashes, decides tree membership from the entries and ignore
   files, and renders each built-in policy's bytes, so the document and the code
   cannot drift apart silently. Its ignore matcher is also compared with the
   library's on random patterns and paths.
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
from hypothesis import given, settings
from hypothesis import strategies as st

from treeframe.config.settings import Settings
from treeframe.engine import policies
from treeframe.frames import merkle_set
from treeframe.frames.frame import Basis, Frame, new_frame
from treeframe.hashing import ids as h
from treeframe.hashing.canonical_json import canonical_json
from treeframe.tree.ignore import IgnoreRules, parse_ignore_file
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
# Tree membership (SCHEMAS.md section 5), from the document alone: which
# entries of a vector tree are members, and the root that gives.
# --------------------------------------------------------------------------


# Section 5.3: reading an ignore file.


def ref_nfc_runs(data: bytes) -> bytes:
    """Every maximal run of valid UTF-8 replaced by its NFC form; other bytes kept."""
    out = b""
    while True:
        try:
            return out + unicodedata.normalize("NFC", data.decode("utf-8")).encode("utf-8")
        except UnicodeDecodeError as bad:
            valid = data[: bad.start].decode("utf-8")
            out += unicodedata.normalize("NFC", valid).encode("utf-8") + data[bad.start : bad.end]
            data = data[bad.end :]


def ref_ignore_lines(data: bytes) -> list[bytes]:
    """Section 5.3: drop one BOM, split at LF only, drop a CR before an LF or at the end, NFC."""
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    lines = data.split(b"\n")
    if lines[-1] == b"":  # after a final LF, or an empty file
        lines.pop()
    return [ref_nfc_runs(line[:-1] if line[-1:] == b"\r" else line) for line in lines]


# Section 5.4: one line, one pattern.


class RefPattern:
    def __init__(self, negated: bool, dir_only: bool, name: bool, body: bytes) -> None:
        self.negated = negated
        self.dir_only = dir_only
        self.name = name  # a name pattern (True) or a path pattern
        self.body = body  # a path pattern's body has lost its leading '/'


def ref_parse_line(line: bytes) -> RefPattern | None:
    """Steps 1-7 of section 5.4; None for a comment or a no-op."""
    if line == b"" or line[0:1] == b"#":
        return None
    line = line.split(b"\x00")[0]
    # Step 3: find where the run of unescaped trailing spaces starts.
    cut = None
    k = 0
    while k < len(line):
        if line[k : k + 1] == b"\\":
            if k + 1 == len(line):
                cut = None
                break
            cut = None
            k += 2
            continue
        if line[k : k + 1] == b" ":
            if cut is None:
                cut = k
        else:
            cut = None
        k += 1
    if cut is not None:
        line = line[:cut]
    negated = line[0:1] == b"!"
    body = line[1:] if negated else line
    dir_only = body[-1:] == b"/"
    if dir_only:
        body = body[:-1]
    if body == b"":
        return None
    if b"/" not in body:
        return RefPattern(negated, dir_only, True, body)
    if body[0:1] == b"/":
        body = body[1:]
    return RefPattern(negated, dir_only, False, body)


# Section 5.5: glob syntax, read into elements, then a backtracking match.

_REF_CLASSES = {
    b"alnum": set(b"0123456789") | set(range(65, 91)) | set(range(97, 123)),
    b"alpha": set(range(65, 91)) | set(range(97, 123)),
    b"blank": {9, 32},
    b"cntrl": set(range(32)) | {127},
    b"digit": set(b"0123456789"),
    b"graph": set(range(33, 127)),
    b"lower": set(range(97, 123)),
    b"print": set(range(32, 127)),
    b"punct": {c for c in range(33, 127) if not chr(c).isalnum()},
    b"space": {9, 10, 13, 32},
    b"upper": set(range(65, 91)),
    b"xdigit": set(b"0123456789abcdefABCDEF"),
}


class RefNever(Exception):
    """The pattern matches nothing (a trailing backslash, an unclosed set, an unknown class)."""


def _ref_set(glob: bytes, k: int) -> tuple[set[int], int]:
    """The set starting at glob[k] == '[': (its bytes, the index after its ']')."""
    k += 1
    negate = glob[k : k + 1] in (b"!", b"^")
    if negate:
        k += 1
    chosen: set[int] = set()
    before: int | None = None  # a member that may start a range
    first = True
    while True:
        if k >= len(glob):
            raise RefNever
        byte = glob[k]
        if byte == ord("]") and not first:
            k += 1
            break
        first = False
        if byte == ord("\\"):
            if k + 1 >= len(glob):
                raise RefNever
            before = glob[k + 1]
            chosen.add(before)
            k += 2
        elif byte == ord("-") and before is not None and glob[k + 1 : k + 2] not in (b"", b"]"):
            end = glob[k + 1]
            k += 2
            if end == ord("\\"):
                if k >= len(glob):
                    raise RefNever
                end = glob[k]
                k += 1
            chosen.update(range(before, end + 1))
            before = None
        elif glob[k : k + 2] == b"[:":
            close = glob.find(b"]", k + 2)
            if close == -1:
                raise RefNever
            if close - 1 > k + 1 and glob[close - 1] == ord(":"):
                name = glob[k + 2 : close - 1]
                if name not in _REF_CLASSES:
                    raise RefNever
                chosen |= _REF_CLASSES[name]
                before = None
                k = close + 1
            else:
                chosen.add(byte)
                before = byte
                k += 1
        else:
            chosen.add(byte)
            before = byte
            k += 1
    if negate:
        chosen = set(range(256)) - chosen
    return chosen - {ord("/")}, k


def ref_elements(glob: bytes, path: bool) -> list[tuple[Any, ...]]:
    """The glob as ("byte", b) / ("set", bytes) / ("run",) / ("all",) / ("dirs",) elements."""
    out: list[tuple[Any, ...]] = []
    k = 0
    while k < len(glob):
        byte = glob[k]
        if byte == ord("\\"):
            if k + 1 == len(glob):
                raise RefNever
            out.append(("byte", glob[k + 1]))
            k += 2
        elif byte == ord("?"):
            out.append(("set", set(range(256)) - {ord("/")}))
            k += 1
        elif byte == ord("["):
            chosen, k = _ref_set(glob, k)
            out.append(("set", chosen))
        elif byte == ord("*"):
            end = k
            while end < len(glob) and glob[end] == ord("*"):
                end += 1
            leading = k == 0 or glob[k - 1] == ord("/")
            after = glob[end:]
            if path and end - k >= 2 and leading and after == b"":
                out.append(("all",))
                k = end
            elif path and end - k >= 2 and leading and after[:1] == b"/":
                out.append(("dirs",))
                k = end + 1
            elif path and end - k >= 2 and leading and after[:2] == b"\\/":
                out.append(("all",))
                k = end
            else:
                out.append(("run",))
                k = end
        else:
            out.append(("byte", byte))
            k += 1
    return out


def ref_glob(elements: list[tuple[Any, ...]], subject: bytes) -> bool:
    def go(e: int, s: int) -> bool:
        if e == len(elements):
            return s == len(subject)
        kind = elements[e][0]
        if kind == "run":
            stop = subject.find(b"/", s)
            stop = len(subject) if stop == -1 else stop
            return any(go(e + 1, t) for t in range(s, stop + 1))
        if kind == "all":
            return any(go(e + 1, t) for t in range(s, len(subject) + 1))
        if kind == "dirs":
            if go(e + 1, s):
                return True
            return any(
                subject[t - 1] == ord("/") and go(e + 1, t) for t in range(s + 1, len(subject) + 1)
            )
        if s == len(subject):
            return False
        if kind == "byte":
            return subject[s] == elements[e][1] and go(e + 1, s + 1)
        return subject[s] in elements[e][1] and go(e + 1, s + 1)

    return go(0, 0)


def ref_matches(pattern: RefPattern, rel: bytes, is_dir: bool) -> bool:
    """Whether ``pattern`` matches the entry at ``rel`` (relative to the layer's directory)."""
    if pattern.dir_only and not is_dir:
        return False
    try:
        if pattern.name:
            return ref_glob(ref_elements(pattern.body, False), rel.split(b"/")[-1])
        literal = 0
        while literal < len(pattern.body) and pattern.body[literal] not in b"*?[\\":
            literal += 1
        if rel[:literal] != pattern.body[:literal]:
            return False
        return ref_glob(ref_elements(pattern.body[literal:], True), rel[literal:])
    except RefNever:
        return False


class RefLayers:
    """The layers that apply in one directory: (layer directory as bytes, patterns), root first."""

    def __init__(self, layers: tuple[tuple[bytes, list[RefPattern]], ...] = ()) -> None:
        self.layers = layers

    def with_lines(self, directory: bytes, lines: list[bytes]) -> RefLayers:
        patterns = [p for p in map(ref_parse_line, lines) if p is not None]
        return RefLayers((*self.layers, (directory, patterns)))

    def excluded(self, path: bytes, is_dir: bool) -> bool:
        """Section 5.5's decision: deepest layer first, last matching line in it."""
        for directory, patterns in reversed(self.layers):
            if directory and not path.startswith(directory + b"/"):
                continue
            rel = path[len(directory) + 1 :] if directory else path
            for pattern in reversed(patterns):
                if ref_matches(pattern, rel, is_dir):
                    return not pattern.negated
        return False


def ref_tree(
    entries: list[dict[str, Any]],
) -> tuple[str, dict[str, tuple[str, str]], list[tuple[str, str]]]:
    """Section 5 over a vector tree: root NodeID, {member: (kind, NodeID)}, [(skipped, reason)]."""
    below: dict[bytes, list[tuple[bytes, dict[str, Any]]]] = {}
    for entry in entries:
        parent, _, name = bytes.fromhex(entry["path_hex"]).rpartition(b"/")
        below.setdefault(parent, []).append((name, entry))
    members: dict[str, tuple[str, str]] = {}
    skipped: list[tuple[str, str]] = []

    def walk(raw_dir: bytes, path: str, rules: RefLayers) -> str:
        listing = below.get(raw_dir, [])
        lines: list[bytes] = []
        for ignore_file in (b".gitignore", b".treeframeignore"):
            for name, entry in listing:
                if name == ignore_file and entry["kind"] == "file":
                    lines += ref_ignore_lines(bytes.fromhex(entry["content_hex"]))
        rules = rules.with_lines(path.encode(), lines)
        prefix = path + "/" if path else ""
        kept: list[tuple[str, dict[str, Any], bytes]] = []
        for name, entry in listing:
            is_dir = entry["kind"] == "dir"
            try:
                text = name.decode("utf-8")
            except UnicodeDecodeError:
                if not rules.excluded(prefix.encode() + name, is_dir):
                    skipped.append((prefix + name.decode("utf-8", "replace"), "non_utf8_name"))
                continue
            text = unicodedata.normalize("NFC", text)
            if any(unicodedata.category(ch) == "Cn" for ch in text):
                skipped.append((prefix + text, "unassigned_code_point"))
                continue
            if is_dir and text in (".git", ".treeframe"):
                continue
            if rules.excluded((prefix + text).encode(), is_dir):
                continue
            kept.append((text, entry, name))
        names = [text for text, _, _ in kept]
        children = []
        for text, entry, name in kept:
            if names.count(text) > 1:
                skipped.append((prefix + text, "nfc_collision"))
                continue
            child = prefix + text
            if entry["kind"] == "file":
                digest = Ref.hash(Ref.content(bytes.fromhex(entry["content_hex"])))
                executable = bool(int(entry["mode"], 8) & 0o100)
                node = Ref.hash(Ref.file(child, digest, executable))
            elif entry["kind"] == "symlink":
                node = Ref.hash(Ref.symlink(child, entry["target"]))
            else:
                node = walk(raw_dir + b"/" + name if raw_dir else name, child, rules)
            members[child] = (entry["kind"], node)
            children.append((text, node))
        return Ref.hash(Ref.directory(path, children))

    return walk(b"", "", RefLayers()), members, skipped


# --------------------------------------------------------------------------
# Built-in synthesis policies (SCHEMAS.md section 8), from the document alone.
# --------------------------------------------------------------------------


def ref_normalize(policy: str, given: dict[str, Any], summary_max_bytes: int) -> dict[str, Any]:
    if policy == "concat":
        assert given == {}
        return {}
    if policy == "summary":
        return {
            "max_bytes": given.get("max_bytes", summary_max_bytes),
            "max_line": given.get("max_line", 120),
        }
    return {
        "agents": sorted(set(given.get("agents", []))),
        "content_type_prefix": given.get("content_type_prefix", ""),
        "metadata": dict(given.get("metadata", {})),
        "types": sorted(set(given.get("types", []))),
    }


def _ref_text(content: bytes) -> str:
    return content.decode("utf-8", errors="replace")


def _ref_concat(inputs: list[dict[str, Any]]) -> bytes:
    sections = [
        f"## {i['child_path']} ({i['frame_type']} by {i['agent_id']})\n"
        f"{_ref_text(bytes.fromhex(i['content_hex'])).rstrip()}\n"
        for i in inputs
    ]
    return "\n".join(sections).encode("utf-8")


def _ref_first_line(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip().lstrip("#").strip()
        if stripped:
            return stripped
    return "(empty)"


def ref_policy_content(policy: str, inputs: list[dict[str, Any]], params: dict[str, Any]) -> bytes:
    if policy == "concat":
        return _ref_concat(inputs)
    if policy == "filter":
        kept = [
            i
            for i in inputs
            if (not params["types"] or i["frame_type"] in params["types"])
            and (not params["agents"] or i["agent_id"] in params["agents"])
            and i["content_type"].startswith(params["content_type_prefix"])
            and all(i["metadata"].get(k) == v for k, v in params["metadata"].items())
        ]
        return _ref_concat(kept)
    out = b""
    used = 0
    n = len(inputs)
    for index, item in enumerate(inputs):
        line = _ref_first_line(_ref_text(bytes.fromhex(item["content_hex"])))
        if len(line) > params["max_line"]:
            line = line[: params["max_line"] - 1] + "\u2026"
        bullet = f"- {item['child_path']}: {line}\n".encode()
        notice = f"- \u2026 {n - index} more\n".encode()
        if used + len(bullet) + (len(notice) if n - index > 1 else 0) > params["max_bytes"]:
            out += notice
            break
        out += bullet
        used += len(bullet)
    return out


def ref_canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
        "audit": "treeframe:audit:v1",
    }


def test_every_vector_list_is_populated():
    for key in ("content_hash", "file_node_id", "symlink_node_id", "dir_node_id"):
        assert VECTORS[key], key
    for key in ("basis_hash", "frame_id", "workspace_id", "nfc", "canonical_json"):
        assert VECTORS[key], key
    for key in ("unassigned_code_points", "tree", "ignore_rules"):
        assert VECTORS[key], key
    assert VECTORS["synthesis"]["cases"]
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


def test_audit_chain():
    from treeframe.hashing.audit import audit_entry_hash

    chain = VECTORS["audit_chain"]
    entries = chain["entries"]
    assert len(entries) == 3
    prev = chain["genesis_prev_hash"]
    assert prev == "0" * 64
    for seq, vector in enumerate(entries, start=1):
        fields = vector["fields"]
        assert (fields["seq"], fields["prev_hash"]) == (seq, prev)
        # Reference: canonical JSON by the rules of SCHEMAS.md section 11, then the tag.
        encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert encoded == vector["canonical_json"]
        data = Ref.blob(b"treeframe:audit:v1") + Ref.blob(encoded.encode("utf-8"))
        assert data.hex() == vector["encoded_hex"]
        assert Ref.hash(data) == vector["entry_hash"] == audit_entry_hash(fields)
        assert vector["head"] == f"{seq}:{vector['entry_hash']}"
        prev = vector["entry_hash"]


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


# --------------------------------------------------------------------------
# Trees: the library scans each vector tree; the reference decides it on paper
# --------------------------------------------------------------------------


def _scan(tmp_path: Path, entries: list[dict[str, Any]]) -> tuple[str, list[NodeRecord]]:
    generator = _load_generator()
    root = tmp_path / "tree"
    generator.materialize(root, entries)
    root_id, records = generator.scan_members(root)
    return root_id, records


def _member_view(member: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in member.items() if k != "note"}


def test_tree_vector_scans_to_its_members_and_root(tmp_path):
    (vector,) = VECTORS["tree"]
    root_id, records = _scan(tmp_path, vector["entries"])
    generator = _load_generator()
    assert [generator._member(r) for r in records] == [_member_view(m) for m in vector["members"]]
    assert root_id == vector["root"]


def test_tree_vector_reference_membership_and_root():
    (vector,) = VECTORS["tree"]
    root_id, members, skipped = ref_tree(vector["entries"])
    assert skipped == []
    assert members == {m["path"]: (m["kind"], m["node_id"]) for m in vector["members"]}
    assert root_id == vector["root"]
    # Every entry the vector calls excluded is absent, every other one present.
    for entry in vector["entries"]:
        raw = bytes.fromhex(entry["path_hex"])
        path = unicodedata.normalize("NFC", raw.decode("utf-8", "surrogateescape"))
        assert (path in members) == ("excluded" not in entry), entry["path"]


def test_tree_vector_covers_the_membership_rules():
    (vector,) = VECTORS["tree"]
    kinds = {
        (bytes.fromhex(e["path_hex"]).rpartition(b"/")[2], e["kind"]) for e in vector["entries"]
    }
    assert {(b".git", "dir"), (b".git", "file"), (b".treeframe", "dir")} <= kinds
    assert {(b".gitignore", "file"), (b".treeframeignore", "file"), (b"link", "symlink")} <= kinds
    ignore_files = [
        e for e in vector["entries"] if e["path"].endswith(("/.gitignore", "/.treeframeignore"))
    ]
    assert ignore_files, "nested ignore files"
    texts = "".join(e.get("content_text", "") for e in vector["entries"] if "ignore" in e["path"])
    assert "\n!" in texts or texts.startswith("!"), "a negation"
    assert any(not unicodedata.is_normalized("NFC", e["path"]) for e in vector["entries"])
    assert any(int(e.get("mode", "0"), 8) & 0o100 for e in vector["entries"])
    assert any(e["kind"] == "dir" and "excluded" in e for e in vector["entries"])


@pytest.mark.parametrize("vector", VECTORS["ignore_rules"], ids=_names(VECTORS["ignore_rules"]))
def test_ignore_rule_vector_scans_as_recorded(tmp_path, vector):
    root_id, records = _scan(tmp_path, vector["entries"])
    assert [r.path for r in records] == vector["members"]
    assert root_id == vector["root"]


@pytest.mark.parametrize("vector", VECTORS["ignore_rules"], ids=_names(VECTORS["ignore_rules"]))
def test_ignore_rule_vector_reference(vector):
    root_id, members, skipped = ref_tree(vector["entries"])
    assert skipped == []
    assert sorted(members, key=lambda p: p.encode()) == vector["members"]
    assert root_id == vector["root"]
    assert vector["files"] == [p for p in vector["members"] if members[p][0] != "dir"]
    assert vector["differs_from_git"] == (vector["files"] != vector["git_files"])
    assert vector["differs_from_git"] == vector["name"].startswith("differs from git")
    if vector["differs_from_git"]:
        assert vector["git_note"]


_ATOMS = ["a", "b", "ab", "*", "**", "***", "?", "a*", "*b", "**a", "a**", "[ab]", "[!a]", "[^b]"]
_ATOMS += ["[]a]", "[a-c]", "[z-a]", "[a-c-e]", "[\\]]", "[[:alpha:]]", "[[:nope:]]", "[[:]"]
_ATOMS += ["[[::]]", "\\*", "x.t", "*.t", "[", "a b", "\\", "\\/", "**\\/", "#", "!", "a\x00b"]
_line = st.builds(
    lambda neg, lead, segs, trail, space: (
        ("!" if neg else "")
        + ("/" if lead else "")
        + "/".join(segs)
        + ("/" if trail else "")
        + space
    ),
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=4),
    st.booleans(),
    st.sampled_from(["", "", "  ", "\\ ", "\\  ", "\t", "\\"]),
) | st.sampled_from(["", "# c", "/", "!", "!/", "**/", "*/", "/**/", "**/*", "!*/", " #x"])
_name = st.sampled_from(["a", "b", "ab", "aa", "x.t", "a b", "*", "]", "c", "#", "-", "\\", "x\fy"])


@settings(max_examples=400, deadline=None)
@given(
    layers=st.lists(st.lists(_line, min_size=1, max_size=5), min_size=1, max_size=3),
    path=st.lists(_name, min_size=1, max_size=4).map("/".join),
    is_dir=st.booleans(),
)
def test_reference_ignore_matcher_is_the_library_matcher(layers, path, is_dir):
    """SCHEMAS.md section 5.4-5.5, as the reference reads it, decides like tree/ignore.py."""
    library, reference = IgnoreRules(), RefLayers()
    for depth, lines in enumerate(layers):
        directory = "/".join(["a", "b"][:depth])
        library = library.with_directory(directory, lines)
        reference = reference.with_lines(directory.encode(), [line.encode() for line in lines])
    assert library.is_ignored(path, is_dir=is_dir) == reference.excluded(path.encode(), is_dir)


_file_bytes = st.lists(
    st.sampled_from(
        [
            *[b"a", b"*", b" ", b"\n", b"\r", b"\r\n", b"\f", b"\x0b", b"\xef\xbb\xbf", b"\xff"],
            *[b"\xc3", b"e\xcc\x81", "\u2028".encode(), "\u0085".encode(), b"#", b"\\"],
        ]
    ),
    max_size=12,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=_file_bytes)
def test_reference_reads_ignore_files_like_the_library(data):
    """Section 5.3's line splitting and NFC, as the reference reads them, equal the library's."""
    library = [line.encode("utf-8", "surrogateescape") for line in parse_ignore_file(data)]
    assert library == ref_ignore_lines(data)


def test_unassigned_code_points_are_cn():
    assert VECTORS["unassigned_code_points"]
    for vector in VECTORS["unassigned_code_points"]:
        name = bytes.fromhex(vector["name_utf8_hex"]).decode("utf-8")
        assert [f"U+{ord(c):04X}" for c in name] == vector["name_codepoints"]
        unassigned = [f"U+{ord(c):04X}" for c in name if unicodedata.category(c) == "Cn"]
        assert unassigned == vector["unassigned"] != []
        assert vector["scan"] == "skipped: unassigned_code_point"


# --------------------------------------------------------------------------
# Synthesis: the library synthesizes on a scanned tree; the reference computes
# each policy's bytes and the FrameID from the document
# --------------------------------------------------------------------------

SYNTHESIS = VECTORS["synthesis"]


@pytest.fixture(scope="module")
def synthesis_api(tmp_path_factory):
    generator = _load_generator()
    root = tmp_path_factory.mktemp("synthesis") / "tree"
    api, stored = generator.synthesis_env(root, SYNTHESIS["tree"]["entries"], SYNTHESIS["frames"])
    assert [f.frame_id for f in stored] == [f["frame_id"] for f in SYNTHESIS["frames"]]
    root_id, records = generator.scan_members(root)
    assert root_id == SYNTHESIS["tree"]["root"]
    assert [generator._member(r) for r in records] == SYNTHESIS["tree"]["members"]
    return api


def test_synthesis_vectors_cover_every_builtin_policy():
    assert (
        {c["policy_id"] for c in SYNTHESIS["cases"]}
        == set(policies.PolicyRegistry().ids())
        & {
            "concat",
            "summary",
            "filter",
        }
        == {"concat", "summary", "filter"}
    )
    empty = [c for c in SYNTHESIS["cases"] if not c["inputs_in_basis_order"]]
    assert {c["policy_id"] for c in empty} == {"concat", "summary", "filter"}
    assert SYNTHESIS["settings"] == {
        "synthesis.summary_max_bytes": Settings().synthesis.summary_max_bytes
    }


@pytest.mark.parametrize("case", SYNTHESIS["cases"], ids=_names(SYNTHESIS["cases"]))
def test_synthesis_vector_library(synthesis_api, case):
    generator = _load_generator()
    max_bytes = case["settings"]["synthesis.summary_max_bytes"]
    api = generator.with_summary_max_bytes(synthesis_api, max_bytes)
    (frame,) = api.synthesize_branch(
        case["directory"],
        case["input_type"],
        case["policy_id"],
        principal=api.agent_principal(case["agent_id"]),
        params=case["params_given"],
        missing=case["missing"],
        output_type=case["output_type_given"],
    ).frames
    content = api.store.blobs.get_many(api.ws, [frame.content_hash]).get(frame.content_hash)
    assert content is not None
    assert content.hex() == case["content_hex"]
    assert frame.basis.to_dict() == case["basis"]
    assert frame.basis.hash() == case["basis_hash"]
    assert (frame.node_id, frame.frame_type, frame.content_type) == (
        case["directory_node_id"],
        case["frame_type"],
        case["content_type"],
    )
    assert frame.frame_id == case["frame_id"]


@pytest.mark.parametrize("case", SYNTHESIS["cases"], ids=_names(SYNTHESIS["cases"]))
def test_synthesis_vector_reference(case):
    members = {m["path"]: m for m in SYNTHESIS["tree"]["members"]}
    frames = {}
    for put in SYNTHESIS["frames"]:
        node = members[put["path"]]["node_id"]
        basis = Ref.hash(Ref.basis({"kind": "node", "node_id": node}, None))
        digest = Ref.hash(Ref.content(bytes.fromhex(put["content_hex"])))
        fid = Ref.hash(Ref.frame(node, put["frame_type"], put["agent_id"], basis, digest))
        assert fid == put["frame_id"]
        frames[fid] = put
    # Inputs: heads of the input type (here: the only frame of that type) per
    # child in name order, every head per child (by FrameID) for "*".
    directory = case["directory"]
    children = sorted(
        (p for p in members if p.rpartition("/")[0] == directory),
        key=lambda p: p.rpartition("/")[2].encode("utf-8"),
    )
    inputs = []
    for child in children:
        heads = sorted(
            fid
            for fid, put in frames.items()
            if put["path"] == child and case["input_type"] in ("*", put["frame_type"])
        )
        inputs += [{**frames[fid], "child_path": child, "frame_id": fid} for fid in heads]
    assert [{"child_path": i["child_path"], "frame_id": i["frame_id"]} for i in inputs] == case[
        "inputs_in_basis_order"
    ]
    max_bytes = case["settings"]["synthesis.summary_max_bytes"]
    params = ref_normalize(case["policy_id"], case["params_given"], max_bytes)
    params_json = ref_canonical_json(
        {"input_type": case["input_type"], "missing": case["missing"], "params": params}
    ).decode()
    assert params_json == case["params_json"]
    content = ref_policy_content(case["policy_id"], inputs, params)
    assert content.hex() == case["content_hex"]
    basis = Ref.hash(
        Ref.basis(
            {
                "kind": "synthesis",
                "child_frames": [i["frame_id"] for i in inputs],
                "policy_id": case["policy_id"],
            },
            params_json,
        )
    )
    assert basis == case["basis_hash"]
    given = case["output_type_given"]
    frame_type = given or ("synthesis" if case["input_type"] == "*" else case["input_type"])
    assert frame_type == case["frame_type"]
    node = members[directory]["node_id"]
    assert node == case["directory_node_id"]
    digest = Ref.hash(Ref.content(content))
    assert digest == case["content_hash"]
    assert (
        Ref.hash(Ref.frame(node, frame_type, case["agent_id"], basis, digest)) == case["frame_id"]
    )
    assert case["content_type"] == "text/markdown; charset=utf-8"


# --------------------------------------------------------------------------
# Generated frames (SCHEMAS.md section 16)
# --------------------------------------------------------------------------


def test_prompt_and_context_hashes_by_the_reference():
    prompt = VECTORS["generated"]["prompt_hash"]
    chosen = prompt["chosen"]
    document = {
        "schema": "prompt/1",
        "kind": chosen["kind"],
        "provider": chosen["provider"],
        "model": chosen["model"],
        "system": prompt["system"],
        "template": prompt["template"],
        "max_output_tokens": chosen["max_output_tokens"],
        "temperature": repr(float(chosen["temperature"])),
    }
    assert ref_canonical_json(document).decode() == prompt["canonical_json"]
    assert Ref.hash(Ref.content(ref_canonical_json(document))) == prompt["prompt_hash"]
    context = VECTORS["generated"]["context_hash"]
    body = {"schema": "context/1", "system": context["system"], "message": context["message"]}
    assert ref_canonical_json(body).decode() == context["canonical_json"]
    assert Ref.hash(Ref.content(ref_canonical_json(body))) == context["context_hash"]


def test_offline_generated_frames_recompute_to_their_ids():
    offline = VECTORS["generated"]["offline"]
    prompt = VECTORS["generated"]["prompt_hash"]["prompt_hash"]
    assert {f["path"] for f in offline["frames"]} == {"", "README.md", "src", "src/app.py"}
    for vector in offline["frames"]:
        frame = new_frame(
            vector["node_id"],
            vector["frame_type"],
            vector["agent_id"],
            vector["content"].encode(),
            basis=Basis.from_dict(vector["basis"]),
            metadata=vector["metadata"],
        )
        assert frame.frame_id == vector["frame_id"], vector["path"]
        if vector["basis"]["kind"] == "node":
            assert vector["metadata"]["generate.prompt_hash"] == prompt
        else:
            assert vector["basis"]["policy_id"] == "provider"
