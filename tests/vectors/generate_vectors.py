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

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI, EngineLimits
from treeframe.engine.types import FrameInput
from treeframe.frames import merkle_set
from treeframe.frames.frame import Basis, Frame, new_frame
from treeframe.hashing import ids as h
from treeframe.hashing.audit import GENESIS, TAG_AUDIT
from treeframe.hashing.canonical_json import canonical_json
from treeframe.hashing.encoding import blob, count, tagged, text, u8
from treeframe.ids import FrameId, NodeId
from treeframe.storage.memory import MemoryStore
from treeframe.storage.values import AuditDraft, AuditEntry, chain_entry
from treeframe.testing.factories import workspace_info
from treeframe.tree.paths import display_name
from treeframe.tree.records import NodeRecord
from treeframe.tree.scan import scan_tree
from treeframe.workspace.working_tree import WorkingTreeContents

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
        ("combining marks are put in canonical order", "q\u0307\u0323.txt"),
        ("NFC is not NFKC: a ligature stays", "\ufb01le"),
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


# -- trees on disk: membership, ignore rules and whole roots -----------------
#
# A tree is a list of entries, parents before children. Each entry names its
# raw on-disk path bytes (``path_hex``) so that NFD and non-UTF-8 names survive
# JSON; ``materialize`` builds it, the scan decides membership.

WS_VECTORS = h.workspace_id("vectors")
Spec = tuple[Any, ...]


def _entry(spec: Spec) -> dict[str, Any]:
    """JSON form of one tree entry: (path, kind, payload[, mode]) with path as str or bytes."""
    raw_path, kind, *rest = spec
    raw = raw_path if isinstance(raw_path, bytes) else raw_path.encode("utf-8")
    out: dict[str, Any] = {"path": display_name(raw), "path_hex": raw.hex(), "kind": kind}
    if kind == "file":
        content = rest[0] if isinstance(rest[0], bytes) else rest[0].encode("utf-8")
        out["mode"] = f"{rest[1] if len(rest) > 1 else 0o644:o}"
        out["content_hex"] = content.hex()
        with contextlib.suppress(UnicodeDecodeError):
            out["content_text"] = content.decode("utf-8")
    elif kind == "symlink":
        out["target"] = rest[0]
    return out


def materialize(root: Path, entries: list[dict[str, Any]]) -> None:
    """Create the entries of a tree vector under ``root`` (an empty or missing directory)."""
    base = os.fsencode(root)
    os.makedirs(base, exist_ok=True)
    for item in entries:
        where = os.path.join(base, bytes.fromhex(item["path_hex"]))
        if item["kind"] == "dir":
            os.mkdir(where)
        elif item["kind"] == "symlink":
            os.symlink(os.fsencode(item["target"]), where)
        else:
            with open(where, "wb") as handle:
                handle.write(bytes.fromhex(item["content_hex"]))
            os.chmod(where, int(item["mode"], 8))


def scan_members(root: Path) -> tuple[NodeId, list[NodeRecord]]:
    """Scan ``root`` into a fresh store: its root NodeID and every record below the root.

    Vector trees must scan without a warning: every entry they leave out is
    excluded by a rule, none is skipped, and every ignore line is valid.
    """
    store = MemoryStore()
    store.create_workspace(workspace_info(WS_VECTORS, "vectors"))
    result = scan_tree(root, store, WS_VECTORS, workers=1)
    if result.warnings:
        raise AssertionError(f"vector tree scanned with warnings: {result.warnings}")
    records: list[NodeRecord] = []
    stack = [result.root]
    while stack:
        record = store.get_node(WS_VECTORS, stack.pop())
        assert record is not None
        if record.path:
            records.append(record)
        stack.extend(child for _, child in record.children)
    records.sort(key=lambda r: r.path.encode("utf-8"))
    return result.root, records


def _member(record: NodeRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"path": record.path, "kind": record.kind, "node_id": record.node_id}
    if not record.path.isascii():
        out["path_utf8_hex"] = _utf8_hex(record.path)
    if record.kind == "file":
        out["content_hash"] = record.content_hash
        out["executable"] = record.executable
    elif record.kind == "symlink":
        out["target"] = record.target
    return out


def _scan_spec(specs: list[Spec]) -> tuple[list[dict[str, Any]], NodeId, list[NodeRecord]]:
    entries = [_entry(spec) for spec in specs]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        materialize(root, entries)
        root_id, records = scan_members(root)
    return entries, root_id, records


NFD_CAFE = "cafe\u0301.md".encode()
NFD_RESUME = "re\u0301sume\u0301.txt"

# (path, kind, payload[, mode], why it is excluded or None). Every reason is
# checked: the generator fails if the scan's membership disagrees with it.
TREE: list[tuple[Spec, str | None]] = [
    ((".git", "dir"), "built in: a directory named .git is never scanned"),
    ((".git/HEAD", "file", "ref: refs/heads/main\n"), "inside an excluded directory"),
    (
        (
            ".gitignore",
            "file",
            "# build output\n*.log\n!keep.log\n/build/\n!build/keep.txt\ndocs/*.tmp\nlogs/\n",
        ),
        None,
    ),
    ((".treeframeignore", "file", f"!important.log\n{NFD_RESUME}\n"), None),
    (("README.md", "file", "hello\n"), None),
    (("app.log", "file", "started\n"), ".gitignore `*.log`"),
    (("keep.log", "file", "kept\n"), None),
    (("important.log", "file", "kept too\n"), None),
    ((b"\xff.log", "file", "undecodable name\n"), ".gitignore `*.log` (matched on the raw name)"),
    (
        ("r\u00e9sum\u00e9.txt", "file", "cv\n"),
        ".treeframeignore line written in NFD, normalized to NFC before matching",
    ),
    (("build", "dir"), ".gitignore `/build/`"),
    (
        ("build/keep.txt", "file", "x\n"),
        "inside an excluded directory (`!build/keep.txt` cannot re-include it)",
    ),
    (("build/.gitignore", "file", "!*\n"), "inside an excluded directory (never read)"),
    (("bin", "dir"), None),
    (("bin/run.sh", "file", "#!/bin/sh\necho hi\n", 0o755), None),
    (("bin/tool", "file", "#!/bin/sh\n", 0o654), None),
    (("link", "symlink", "README.md"), None),
    (("logs", "symlink", "../shared/logs"), None),
    (("docs", "dir"), None),
    (("docs/" + NFD_CAFE.decode(), "file", "caf\u00e9\n"), None),
    (("docs/draft.tmp", "file", "draft\n"), ".gitignore `docs/*.tmp` (anchored: it has a slash)"),
    (("docs/sub", "dir"), None),
    (("docs/sub/draft.tmp", "file", "draft\n"), None),
    (("empty", "dir"), None),
    (("tmp", "dir"), None),
    (("tmp/x.log", "file", "x\n"), ".gitignore `*.log`"),
    (("src", "dir"), None),
    (("src/.gitignore", "file", "!*.log\ngenerated/\n"), None),
    (("src/.treeframeignore", "file", "debug.log\n"), None),
    (("src/main.py", "file", "print('main')\n"), None),
    (("src/trace.log", "file", "trace\n"), None),
    (
        ("src/debug.log", "file", "debug\n"),
        "src/.treeframeignore `debug.log` (read after src/.gitignore `!*.log`)",
    ),
    (("src/generated", "dir"), "src/.gitignore `generated/`"),
    (("src/generated/out.py", "file", "x = 1\n"), "inside an excluded directory"),
    (("src/lib", "dir"), None),
    (("src/lib/generated", "file", "a file, not a directory\n"), None),
    (("src/vendor", "dir"), None),
    (("src/vendor/.git", "file", "gitdir: ../../.git/modules/vendor\n"), None),
    (("src/vendor/lib.py", "file", "def f(): ...\n"), None),
    (("src/vendor/.treeframe", "dir"), "built in: a directory named .treeframe is never scanned"),
    (("src/vendor/.treeframe/store.db", "file", ""), "inside an excluded directory"),
]

# Why the members that need a word are in the tree (documentation only).
TREE_NOTES = {
    "keep.log": "`!keep.log` re-includes it after `*.log`",
    "important.log": "`!important.log` in .treeframeignore, read after .gitignore, wins",
    "bin/run.sh": "mode 755: owner-execute set, so executable",
    "bin/tool": "mode 654: owner-execute clear, so not executable (other bits are not hashed)",
    "logs": "a symlink is never a directory for `logs/` (it is not followed)",
    "docs/caf\u00e9.md": "named in NFD on disk; the path is NFC",
    "docs/sub/draft.tmp": "`docs/*.tmp` is anchored to the root's docs/ and `*` stops at `/`",
    "empty": "an empty directory is a member",
    "tmp": "a directory whose entries are all excluded is a member (with no children)",
    "src/trace.log": "src/.gitignore `!*.log` (deeper file wins over the root's `*.log`)",
    "src/lib/generated": "`generated/` matches directories only",
    "src/vendor/.git": "a .git *file* (a submodule's pointer) is an ordinary file",
}


def _tree_vectors() -> list[dict[str, Any]]:
    entries, root_id, records = _scan_spec([spec for spec, _ in TREE])
    for item, (_, why) in zip(entries, TREE, strict=True):
        if why is not None:
            item["excluded"] = why
    expected = {
        unicodedata.normalize("NFC", bytes.fromhex(e["path_hex"]).decode("utf-8"))
        for e in entries
        if "excluded" not in e
    }
    found = {r.path for r in records}
    if found != expected:
        raise SystemExit(f"tree membership changed: {sorted(found ^ expected)}")
    members = [_member(r) for r in records]
    for member in members:
        if member["path"] in TREE_NOTES:
            member["note"] = TREE_NOTES[member["path"]]
    return [
        {
            "name": "small tree with nested ignore files",
            "entries": entries,
            "members": members,
            "root": root_id,
        }
    ]


def _gi(*lines: str) -> str:
    return "".join(f"{line}\n" for line in lines)


# (name, entries, the files git keeps when it reads each .treeframeignore as if appended
# to the .gitignore beside it, and why git differs; None: git keeps the same files)
IGNORE_CASES: list[tuple[str, list[Spec], tuple[list[str], str] | None]] = [
    (
        "a leading or inner slash anchors a pattern; a bare name matches at any depth",
        [
            (".gitignore", "file", _gi("/top", "a/b", "name")),
            ("top", "file", ""),
            ("a", "dir"),
            ("a/b", "file", ""),
            ("d", "dir"),
            ("d/top", "file", ""),
            ("d/a", "dir"),
            ("d/a/b", "file", ""),
            ("d/e", "dir"),
            ("d/e/name", "file", ""),
        ],
        None,
    ),
    (
        "a trailing slash matches directories only (never files or symlinks)",
        [
            (".gitignore", "file", _gi("out/", "o2/")),
            ("out", "dir"),
            ("out/f", "file", ""),
            ("d", "dir"),
            ("d/out", "file", ""),
            ("o2", "symlink", "d"),
        ],
        None,
    ),
    (
        "an excluded directory is not entered: nothing below it can be re-included",
        [
            (".gitignore", "file", _gi("build/", "!build/keep")),
            ("build", "dir"),
            ("build/.gitignore", "file", _gi("!*")),
            ("build/keep", "file", ""),
        ],
        None,
    ),
    (
        "double asterisks",
        [
            (".gitignore", "file", _gi("**/cache", "a/**/z")),
            ("cache", "file", ""),
            ("d", "dir"),
            ("d/cache", "dir"),
            ("d/cache/f", "file", ""),
            ("a", "dir"),
            ("a/z", "file", ""),
            ("a/b", "dir"),
            ("a/b/c", "dir"),
            ("a/b/c/z", "file", ""),
            ("b", "dir"),
            ("b/a", "dir"),
            ("b/a/z", "file", ""),
        ],
        None,
    ),
    (
        "within one file the last matching pattern wins",
        [
            (".gitignore", "file", _gi("*.log", "!k*.log", "kill.log")),
            ("a.log", "file", ""),
            ("keep.log", "file", ""),
            ("kill.log", "file", ""),
        ],
        None,
    ),
    (
        "a deeper file wins; in one directory .treeframeignore is read after .gitignore",
        [
            (".gitignore", "file", _gi("*.tmp")),
            ("a.tmp", "file", ""),
            ("d", "dir"),
            ("d/.gitignore", "file", _gi("!*.tmp")),
            ("d/.treeframeignore", "file", _gi("b.tmp")),
            ("d/a.tmp", "file", ""),
            ("d/b.tmp", "file", ""),
        ],
        None,
    ),
    (
        "comments, backslash escapes and trailing spaces",
        [
            (".gitignore", "file", _gi("# c", "\\#h", "\\!b", "sp\\ ", "t   ")),
            ("# c", "file", ""),
            ("#h", "file", ""),
            ("!b", "file", ""),
            ("sp ", "file", ""),
            ("sp", "file", ""),
            ("t", "file", ""),
        ],
        None,
    ),
    (
        "a byte-order mark and CRLF line ends are removed",
        [
            (".gitignore", "file", b"\xef\xbb\xbfa.txt\r\nb.txt\r\n"),
            ("a.txt", "file", ""),
            ("b.txt", "file", ""),
            ("c.txt", "file", ""),
        ],
        None,
    ),
    (
        "differs from git (by design): names and patterns are NFC-normalized",
        [
            (".gitignore", "file", _gi("cafe\u0301.txt", "na\u00efve.txt", "?.md")),
            ("caf\u00e9.txt", "file", ""),
            ("nai\u0308ve.txt", "file", ""),
            ("e\u0301.md", "file", ""),
            ("ab.md", "file", ""),
        ],
        (
            [".gitignore", "ab.md", "caf\u00e9.txt", "e\u0301.md", "nai\u0308ve.txt"],
            "git compares the bytes on disk: the NFD pattern does not match the NFC name, nor "
            "the NFC pattern the NFD name; for both, `?` is one byte, so it matches neither "
            "form of \u00e9.md",
        ),
    ),
    (
        "names that are not UTF-8 are matched in their raw form",
        [
            (".gitignore", "file", b"*.bin\n\xfe\xfd\n"),
            (b"\xff.bin", "file", ""),
            (b"\xfe\xfd", "file", ""),
        ],
        None,
    ),
    (
        "directories stay members when they are empty or all their entries are excluded",
        [
            (".gitignore", "file", _gi("*.o")),
            ("obj", "dir"),
            ("obj/a.o", "file", ""),
            ("empty", "dir"),
        ],
        (
            [".gitignore"],
            "git tracks no directories, so neither obj nor empty would be in a commit",
        ),
    ),
    (
        "`*`, `!*/`, `!*.txt` re-includes every directory and keeps .txt files at any depth",
        [
            (".gitignore", "file", _gi("*", "!*/", "!*.txt")),
            ("a.txt", "file", ""),
            ("d", "dir"),
            ("d/b.txt", "file", ""),
            ("d/c.py", "file", ""),
            ("d/e", "dir"),
            ("d/e/f.txt", "file", ""),
        ],
        None,
    ),
    (
        "a later line wins: `*` then `!src/` (here in .treeframeignore) re-includes src",
        [
            (".gitignore", "file", _gi("*", "!*.py")),
            (".treeframeignore", "file", _gi("!src/")),
            ("a.py", "file", ""),
            ("src", "dir"),
            ("src/b.py", "file", ""),
            ("src/c.txt", "file", ""),
        ],
        None,
    ),
    (
        "a later line wins: after `!*`, `build/` excludes build",
        [
            (".gitignore", "file", _gi("!*", "build/")),
            ("a", "file", ""),
            ("build", "dir"),
            ("build/x", "file", ""),
        ],
        None,
    ),
    (
        "a pattern matches the entry itself, never through a parent: `!vendor` keeps no "
        "vendor/node_modules",
        [
            (".gitignore", "file", _gi("node_modules", "!vendor")),
            ("node_modules", "dir"),
            ("node_modules/n.js", "file", ""),
            ("vendor", "dir"),
            ("vendor/node_modules", "dir"),
            ("vendor/node_modules/m.js", "file", ""),
            ("vendor/v.js", "file", ""),
        ],
        None,
    ),
    (
        "`dir/**` matches what is inside dir, not dir, so `!dir/keep` re-includes",
        [
            (".gitignore", "file", _gi("logs/**", "!logs/keep")),
            ("logs", "dir"),
            ("logs/a", "file", ""),
            ("logs/keep", "file", ""),
        ],
        None,
    ),
    (
        "`dir/**/` matches the directories below dir, not dir",
        [
            (".gitignore", "file", _gi("d/**/")),
            ("d", "dir"),
            ("d/f", "file", ""),
            ("d/e", "dir"),
            ("d/e/g", "file", ""),
        ],
        None,
    ),
    (
        "`**` right after a pattern's literal part is leading: `foo**/bar`",
        [
            (".gitignore", "file", _gi("foo**/bar")),
            ("foobar", "file", ""),
            ("foo", "dir"),
            ("foo/bar", "file", ""),
            ("foox", "dir"),
            ("foox/y", "dir"),
            ("foox/y/bar", "file", ""),
            ("foox/baz", "file", ""),
        ],
        None,
    ),
    (
        "lines end at LF only: a form feed is part of the pattern",
        [
            (".gitignore", "file", "a.txt\fb.txt\n"),
            ("a.txt", "file", ""),
            ("b.txt", "file", ""),
            ("a.txt\fb.txt", "file", ""),
        ],
        None,
    ),
    (
        "only unescaped trailing spaces are removed; a tab stays",
        [
            (".gitignore", "file", "a  \nb\\ \\ \nc\t\n"),
            ("a", "file", ""),
            ("a  ", "file", ""),
            ("b", "file", ""),
            ("b  ", "file", ""),
            ("c", "file", ""),
            ("c\t", "file", ""),
        ],
        None,
    ),
    (
        "bracket expressions: POSIX classes, `]` first, ranges, negation; `[z-a]` is `z`",
        [
            (
                ".gitignore",
                "file",
                _gi("[[:digit:]]*", "x[[:space:]]y", "[]x]1", "[!a-c]2", "[z-a]3"),
            ),
            ("1a", "file", ""),
            ("x y", "file", ""),
            ("x\fy", "file", ""),
            ("]1", "file", ""),
            ("y1", "file", ""),
            ("a2", "file", ""),
            ("d2", "file", ""),
            ("a3", "file", ""),
            ("z3", "file", ""),
        ],
        None,
    ),
]


def _ignore_vectors() -> list[dict[str, Any]]:
    out = []
    for name, specs, git in IGNORE_CASES:
        entries, root_id, records = _scan_spec(specs)
        files = [r.path for r in records if r.kind != "dir"]
        git_files, why = git if git is not None else (files, "")
        vector: dict[str, Any] = {
            "name": name,
            "entries": entries,
            "members": [r.path for r in records],
            "root": root_id,
            "files": files,
            "git_files": git_files,
            "differs_from_git": git_files != files,
        }
        if why:
            vector["git_note"] = why
        out.append(vector)
    return out


# -- synthesis: each built-in policy's parameters, bytes and FrameID --------

SYNTH_TREE: list[Spec] = [
    ("src", "dir"),
    ("src/a.py", "file", "print('a')\n"),
    ("src/b.md", "file", "# B\n"),
    ("src/sub", "dir"),
    ("src/sub/c.txt", "file", "c\n"),
    ("empty", "dir"),
]

# (path, frame type, agent, content, content type, metadata), put in this order.
SYNTH_FRAMES: list[tuple[str, str, str, bytes, str, dict[str, str]]] = [
    (
        "src/a.py",
        "summary",
        "alice",
        b"# Module A does things\n\nDetails.\n",
        "text/plain; charset=utf-8",
        {},
    ),
    ("src/a.py", "note", "bob", b"Uses print.\n", "text/plain; charset=utf-8", {"lang": "py"}),
    (
        "src/b.md",
        "summary",
        "alice",
        b"   \n\n## B docs\nmore\n  \n",
        "text/markdown; charset=utf-8",
        {},
    ),
    ("src/b.md", "blob", "bob", b"\xff\xfeok\xe2\x82", "application/octet-stream", {}),
    ("src/sub", "summary", "alice", b"\n  \n", "text/plain; charset=utf-8", {}),
]

# (name, directory, policy, input type, params given, output type)
SYNTH_CASES: list[tuple[str, str, str, str, dict[str, Any], str | None]] = [
    ("concat of summaries", "src", "concat", "summary", {}, None),
    (
        "summary with the defaults (max_bytes comes from settings)",
        "src",
        "summary",
        "summary",
        {},
        None,
    ),
    (
        "summary with synthesis.summary_max_bytes = 60",
        "src",
        "summary",
        "summary",
        {},
        "configured",
    ),
    (
        "summary cut to max_line and max_bytes",
        "src",
        "summary",
        "summary",
        {"max_line": 8, "max_bytes": 40},
        "short",
    ),
    (
        "summary of exactly max_bytes: the last bullet reserves no room for a notice",
        "src",
        "summary",
        "summary",
        {"max_bytes": 71},
        "exact",
    ),
    (
        "summary whose first line does not fit max_bytes",
        "src",
        "summary",
        "summary",
        {"max_bytes": 10},
        "tiny",
    ),
    ("concat of every head (input type *)", "src", "concat", "*", {}, None),
    (
        "filter: normalized predicates over every head",
        "src",
        "filter",
        "*",
        {"types": ["summary", "note", "summary"], "metadata": {"lang": "py"}},
        "filtered",
    ),
    ("the stable empty frame: concat", "empty", "concat", "summary", {}, None),
    ("the stable empty frame: summary", "empty", "summary", "summary", {}, None),
    ("the stable empty frame: filter", "empty", "filter", "summary", {}, None),
]

SYNTH_AGENT = "synth"


def _frame_json(spec: tuple[str, str, str, bytes, str, dict[str, str]]) -> dict[str, Any]:
    path, frame_type, agent, content, content_type, metadata = spec
    return {
        "path": path,
        "frame_type": frame_type,
        "agent_id": agent,
        "content_hex": content.hex(),
        "content_type": content_type,
        "metadata": metadata,
    }


def synthesis_env(
    root: Path, entries: list[dict[str, Any]], frames: list[dict[str, Any]]
) -> tuple[ContextAPI, list[Frame]]:
    """Materialize and scan a tree, register its agents, put ``frames`` in order (default limits)."""
    materialize(root, entries)
    store = MemoryStore()
    store.create_workspace(workspace_info(WS_VECTORS, "vectors"))
    scan_tree(root, store, WS_VECTORS, workers=1)
    api = ContextAPI(store, WS_VECTORS, files=WorkingTreeContents(root), limits=EngineLimits())
    for agent in sorted({f["agent_id"] for f in frames}):
        api.agents.register(AgentRecord(agent, "writer"))
    api.agents.register(AgentRecord(SYNTH_AGENT, "synthesis"))
    stored = []
    for f in frames:
        content = bytes.fromhex(f["content_hex"])
        frame_id = api.put_frame(
            f["path"],
            FrameInput(f["frame_type"], content, f["content_type"], f["metadata"]),
            principal=api.agent_principal(f["agent_id"]),
        )
        frame = store.get_frame(WS_VECTORS, frame_id)
        assert frame is not None
        stored.append(frame)
    return api, stored


DEFAULT_SUMMARY_BYTES = EngineLimits().summary_max_bytes
SUMMARY_MAX_BYTES = {"summary with synthesis.summary_max_bytes = 60": 60}
"""Cases run with another ``synthesis.summary_max_bytes`` than the default."""


def with_summary_max_bytes(api: ContextAPI, max_bytes: int) -> ContextAPI:
    """The same workspace seen through an engine whose ``synthesis.summary_max_bytes`` is given."""
    limits = dataclasses.replace(api.limits, summary_max_bytes=max_bytes)
    return ContextAPI(api.store, api.ws, files=api.files, limits=limits)


def _synthesis_vectors() -> dict[str, Any]:
    entries = [_entry(spec) for spec in SYNTH_TREE]
    frames = [_frame_json(spec) for spec in SYNTH_FRAMES]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        api, stored = synthesis_env(root, entries, frames)
        store, ws = api.store, api.ws
        for item, frame in zip(frames, stored, strict=True):
            item["node_id"] = frame.node_id
            item["frame_id"] = frame.frame_id
        path_of = {f["frame_id"]: f["path"] for f in frames}
        cases = []
        for name, directory, policy, input_type, params, output_type in SYNTH_CASES:
            max_bytes = SUMMARY_MAX_BYTES.get(name, DEFAULT_SUMMARY_BYTES)
            engine = with_summary_max_bytes(api, max_bytes)
            result = engine.synthesize_branch(
                directory,
                input_type,
                policy,
                principal=engine.agent_principal(SYNTH_AGENT),
                params=params,
                output_type=output_type,
            )
            (frame,) = result.frames
            content = store.blobs.get_many(ws, [frame.content_hash]).get(frame.content_hash)
            assert content is not None
            cases.append(
                {
                    "name": name,
                    "directory": directory,
                    "directory_node_id": frame.node_id,
                    "policy_id": policy,
                    "input_type": input_type,
                    "missing": "skip",
                    "params_given": params,
                    "output_type_given": output_type,
                    "agent_id": SYNTH_AGENT,
                    "settings": {"synthesis.summary_max_bytes": max_bytes},
                    "inputs_in_basis_order": [
                        {"child_path": path_of[fid], "frame_id": fid}
                        for fid in frame.basis.child_frames
                    ],
                    "basis": frame.basis.to_dict(),
                    "params_json": frame.basis.params_json.decode("utf-8"),
                    "basis_hash": frame.basis.hash(),
                    "frame_type": frame.frame_type,
                    "content_type": frame.content_type,
                    "content_hex": content.hex(),
                    "content_text": content.decode("utf-8"),
                    "content_hash": frame.content_hash,
                    "frame_id": frame.frame_id,
                }
            )
        tree_root, records = scan_members(root)
    return {
        "settings": {"synthesis.summary_max_bytes": DEFAULT_SUMMARY_BYTES},
        "tree": {"entries": entries, "members": [_member(r) for r in records], "root": tree_root},
        "frames": frames,
        "cases": cases,
    }


def _unassigned_vectors() -> list[dict[str, Any]]:
    out = []
    for name, value in [
        ("noncharacter U+FDD0 (general category Cn in every Unicode version)", "a\ufdd0.txt"),
        ("noncharacter U+10FFFF", "z\U0010ffff"),
        ("reserved U+0378 in the Greek block", "\u0378.md"),
    ]:
        out.append(
            {
                "name": name,
                "name_utf8_hex": _utf8_hex(value),
                "name_codepoints": _codepoints(value),
                "unassigned": [
                    f"U+{ord(ch):04X}" for ch in value if unicodedata.category(ch) == "Cn"
                ],
                "scan": "skipped: unassigned_code_point",
            }
        )
    return out


def _audit_vectors() -> dict[str, Any]:
    """One workspace's first three audit entries: accepted, refused, by the owner."""
    ws = h.workspace_id("default")
    drafts = [
        AuditDraft(
            "2026-12-01T12:00:00.000000Z",
            "writer-1",
            "frame.put",
            "9" * 64,
            "a" * 64,
            True,
            None,
            "0123456789abcdef0123456789abcdef",
        ),
        AuditDraft(
            "2026-12-01T12:00:01.000000Z",
            "reader-1",
            "frame.put",
            None,
            None,
            False,
            "access_denied",
            None,
        ),
        AuditDraft(
            "2026-12-01T12:00:02.000000Z",
            None,
            "agent.register",
            None,
            None,
            True,
            None,
            None,
        ),
    ]
    entries: list[AuditEntry] = []
    for draft in drafts:
        entries.append(chain_entry(ws, draft, entries[-1] if entries else None))
    return {
        "genesis_prev_hash": GENESIS,
        "entries": [
            {
                "fields": e.fields(),
                "canonical_json": canonical_json(e.fields()).decode("utf-8"),
                "encoded_hex": tagged(TAG_AUDIT, blob(canonical_json(e.fields()))).hex(),
                "entry_hash": e.entry_hash,
                "head": e.head,
            }
            for e in entries
        ],
    }


def _generated_vectors() -> dict[str, Any]:
    """Prompt and context hashes (docs/SCHEMAS.md section 16) and the offline provider's frames."""
    from treeframe.engine.generation import GenerateOptions
    from treeframe.engine.prompts import PromptSet, context_hash

    prompts = PromptSet()
    chosen = {
        "kind": "file",
        "provider": "offline",
        "model": "offline-1",
        "max_output_tokens": 512,
        "temperature": 0.0,
    }
    prompt = prompts.prompt_hash(
        "file",
        provider="offline",
        model="offline-1",
        max_output_tokens=512,
        temperature=0.0,
    )
    document = {
        "schema": "prompt/1",
        "kind": "file",
        "provider": "offline",
        "model": "offline-1",
        "system": prompts.system,
        "template": prompts.file,
        "max_output_tokens": 512,
        "temperature": repr(0.0),
    }
    message = "Describe the file a.py.\n"
    context = {"schema": "context/1", "system": prompts.system, "message": message}
    tree = [
        _entry(("src", "dir", None)),
        _entry(("src/app.py", "file", b'"""The entry point."""\n\ndef main():\n    return 0\n')),
        _entry(("README.md", "file", b"# Demo\n\nA demo tree.\n")),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        materialize(root, tree)
        store = MemoryStore()
        ws = h.workspace_id("vectors")
        store.create_workspace(workspace_info(ws, "vectors"))
        scan_tree(root, store, ws, workers=1)
        api = ContextAPI(store, ws, files=WorkingTreeContents(root), limits=EngineLimits())
        api.agents.register(AgentRecord("describer", "writer", ("synthesize",)))
        report = api.generate(
            ".", GenerateOptions(recursive=True), principal=api.agent_principal("describer")
        )
        frames = []
        for entry in report.entries:
            assert entry.frame_id is not None
            frame = store.get_frame(ws, entry.frame_id)
            assert frame is not None
            content = store.blobs.get_many(ws, [frame.content_hash])[frame.content_hash]
            frames.append(
                {
                    "path": entry.path,
                    "node_id": entry.node_id,
                    "frame_type": frame.frame_type,
                    "agent_id": frame.agent_id,
                    "basis": frame.basis.to_dict(),
                    "content": content.decode("utf-8"),
                    "metadata": dict(frame.metadata),
                    "frame_id": frame.frame_id,
                }
            )
    return {
        "prompt_hash": {
            "chosen": chosen,
            "system": prompts.system,
            "template": prompts.file,
            "canonical_json": canonical_json(document).decode("utf-8"),
            "prompt_hash": prompt,
        },
        "context_hash": {
            "system": prompts.system,
            "message": message,
            "canonical_json": canonical_json(context).decode("utf-8"),
            "context_hash": context_hash(prompts.system, message),
        },
        "offline": {"tree": tree, "agent_id": "describer", "frames": frames},
    }


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
            "audit": TAG_AUDIT.decode(),
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
        "unassigned_code_points": _unassigned_vectors(),
        "canonical_json": _canonical_json_vectors(),
        "tree": _tree_vectors(),
        "ignore_rules": _ignore_vectors(),
        "synthesis": _synthesis_vectors(),
        "audit_chain": _audit_vectors(),
        "generated": _generated_vectors(),
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
