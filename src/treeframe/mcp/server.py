"""The MCP server: treeframe's context tools and node-context resources over the official SDK.

Every tool answers with one JSON object (``structuredContent``, and the
same JSON as its text block) that has a ``stale`` list: the stale (or
incomplete) frames in the answer's scope, each with its FrameID, NodeID,
path, type, author, reason and whether the engine can recompute it, so an
agent never takes a stale frame for a fresh one. A treeframe error is a tool
error (``isError``) whose text is ``code: message`` and whose structured
content is ``{"error": {"code", "message"}}``, with the stable code of
docs/ERRORS.md. The resources ``treeframe://context`` (the root) and
``treeframe://context/{+path}`` are get_context's answer with the default
view; their errors are MCP errors whose ``data`` has the code.

The tools are synchronous (the SDK runs them on worker threads): the store
and the client are used as the CLI uses them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from treeframe.engine.types import NodeContext, StaleFrame
from treeframe.errors import TreeframeError
from treeframe.frames.frame import DEFAULT_CONTENT_TYPE
from treeframe.frames.views import ViewPolicy
from treeframe.ids import FrameId
from treeframe.mcp.backend import Backend
from treeframe.release import VERSION

__all__ = ["CONTEXT_URI", "Transport", "build_server", "run"]

CONTEXT_URI = "treeframe://context"
"""The root's context; ``CONTEXT_URI + "/" + path`` is a node's."""

Transport = Literal["stdio", "http"]

_INSTRUCTIONS = (
    "treeframe stores context frames (summaries, reviews, notes) on the files and "
    "directories of a workspace. Paths are workspace-relative ('.' is the root) or NodeIDs. "
    "Every answer has a 'stale' list: frames whose file or inputs changed since they were "
    "written. Treat them as outdated; regenerate recomputes the ones marked recomputable, "
    "the others need their agent to put a new frame."
)

NodeRef = Annotated[str, Field(description="Workspace-relative path ('.' is the root) or NodeID.")]
Agent = Annotated[
    str | None,
    Field(
        description="Registered agent who authors the frame (default: who the server runs as; "
        "over --server the token's agent, always)."
    ),
]
Recursive = Annotated[bool, Field(description="The whole subtree, not only the node.")]

_READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)


def _stale(frames: Iterable[StaleFrame]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in frames]


def _answer(work: Callable[[], dict[str, Any]]) -> CallToolResult:
    """``work()`` as a tool result, a TreeframeError as a tool error with its stable code."""
    try:
        payload = work()
    except TreeframeError as exc:
        error = {"code": exc.code, "message": str(exc)}
        return CallToolResult(
            content=[TextContent(text=f"{exc.code}: {exc}")],
            structured_content={"error": error},
            is_error=True,
        )
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return CallToolResult(content=[TextContent(text=text)], structured_content=payload)


def _touches(path: str, changed: str) -> bool:
    """True when ``path`` is ``changed``, inside it, or one of its ancestors."""
    return (
        path == changed
        or "" in (path, changed)
        or path.startswith(changed + "/")
        or changed.startswith(path + "/")
    )


class _Tools:
    """The tool bodies over one backend; each returns the JSON payload of its answer."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def context(
        self,
        path: str,
        max_frames: int | None = None,
        max_bytes: int | None = None,
        types: list[str] | None = None,
        include_previous: bool = True,
    ) -> dict[str, Any]:
        view_settings = self.backend.settings.view
        view = ViewPolicy(
            # Above view.hard_max_frames the engine refuses (invalid_view_policy), never clips.
            max_frames=max_frames if max_frames is not None else view_settings.default_max_frames,
            ordering=view_settings.default_ordering,
            types=tuple(types or ()),
            type_priority=tuple(types or ()),
            max_bytes=max_bytes,
        )
        found, heads = self.backend.context(path, view, include_previous=include_previous)
        record = found.node_record
        report = self.backend.stale(record.node_id, recursive=False)
        return {
            "node_id": record.node_id,
            "path": record.path,
            "kind": record.kind,
            "policy": view.to_dict(),
            "frame_count": found.frame_count,
            "truncated": found.truncated,
            "frames": _frames(found, heads),
            "stale": _stale((*report.frames, *_unlisted(found, report.frames))),
        }

    def list_stale(self, path: str, recursive: bool) -> dict[str, Any]:
        report = self.backend.stale(path, recursive=recursive)
        return {"node_id": report.node_id, "recursive": recursive, "stale": _stale(report.frames)}

    def put(
        self,
        path: str,
        frame_type: str,
        content: str,
        agent: str | None,
        content_type: str,
        metadata: dict[str, str] | None,
        basis_frame: str | None,
    ) -> dict[str, Any]:
        result = self.backend.put(
            path,
            frame_type,
            content.encode("utf-8"),
            agent=agent,
            content_type=content_type,
            metadata=metadata or {},
            basis_frame=FrameId(basis_frame) if basis_frame else None,
        )
        report = self.backend.stale(result.frame.node_id, recursive=False)
        return {"frame": result.to_dict(), "stale": _stale(report.frames)}

    def synthesize(
        self,
        path: str,
        frame_type: str,
        agent: str | None,
        policy: str | None,
        params: dict[str, Any] | None,
        recursive: bool,
        missing: Literal["skip", "fail"] | None,
        output_type: str | None,
    ) -> dict[str, Any]:
        defaults = self.backend.settings.synthesis
        result = self.backend.synthesize(
            path,
            frame_type,
            agent=agent,
            policy=policy or defaults.default_policy,
            params=params or {},
            recursive=recursive,
            missing=missing or defaults.missing,
            output_type=output_type,
        )
        report = self.backend.stale(path, recursive=recursive)
        return result.to_dict() | {"stale": _stale(report.frames)}

    def regenerate(
        self, path: str, recursive: bool, dry_run: bool, agents: bool = False
    ) -> dict[str, Any]:
        done = self.backend.regenerate(path, recursive=recursive, dry_run=dry_run, agents=agents)
        report = self.backend.stale(done.node_id, recursive=recursive)
        return done.to_dict() | {"stale": _stale(report.frames)}

    def diff(self, root_a: str, root_b: str) -> dict[str, Any]:
        payload = self.backend.diff(root_a, root_b)
        changed = [entry["path"] for entry in payload["entries"]]
        scope: list[StaleFrame] = []
        if changed:
            everything = self.backend.stale("", recursive=True).frames
            scope = [f for f in everything if any(_touches(f.path, c) for c in changed)]
        return payload | {"stale": _stale(scope)}


def _frames(found: NodeContext, heads: dict[str, FrameId]) -> list[dict[str, Any]]:
    """The view's frames with content and their head, stale, incomplete and previous markers."""
    current = set(heads.values())
    out = []
    for item in found.frames:
        entry = item.to_dict()
        entry["head"] = not item.previous and item.frame.frame_id in current
        out.append(entry)
    return out


def _unlisted(found: NodeContext, listed: tuple[StaleFrame, ...]) -> list[StaleFrame]:
    """Stale frames of the view that the staleness report does not list (heads only there)."""
    known = {f.frame_id for f in listed}
    path = found.node_record.path
    return [
        StaleFrame(
            item.frame.frame_id,
            item.frame.node_id,
            path,
            item.frame.frame_type,
            item.frame.agent_id,
            "a previous version of this path" if item.previous else "its basis is not current",
            False,
        )
        for item in found.frames
        if item.stale and item.frame.frame_id not in known
    ]


def _resource_error(exc: TreeframeError) -> MCPError:
    code = INVALID_PARAMS if exc.http_status < 500 else INTERNAL_ERROR
    return MCPError(code=code, message=f"{exc.code}: {exc}", data={"code": exc.code})


def build_server(backend: Backend) -> MCPServer:
    """The MCP server of one workspace: six tools and the node-context resources."""
    tools = _Tools(backend)
    server: MCPServer = MCPServer(
        "treeframe", version=VERSION, instructions=_INSTRUCTIONS, log_level="WARNING"
    )

    @server.tool(annotations=_READ)
    def get_context(
        path: NodeRef = ".",
        max_frames: Annotated[
            int | None, Field(ge=1, description="Most frames (default: view.default_max_frames).")
        ] = None,
        max_bytes: Annotated[
            int | None, Field(ge=0, description="Budget for the returned content, in bytes.")
        ] = None,
        types: Annotated[
            list[str] | None, Field(description="Only frames of these types, ranked in this order.")
        ] = None,
        include_previous: Annotated[
            bool,
            Field(description="Also the heads of the path's previous versions (always stale)."),
        ] = True,
    ) -> CallToolResult:
        """A node's bounded context: its frames with content, each marked head, stale, incomplete."""
        return _answer(lambda: tools.context(path, max_frames, max_bytes, types, include_previous))

    @server.tool(annotations=_READ)
    def list_stale(path: NodeRef = ".", recursive: Recursive = False) -> CallToolResult:
        """Head frames whose file or inputs changed since they were written, and why."""
        return _answer(lambda: tools.list_stale(path, recursive))

    @server.tool(annotations=_WRITE)
    def put_frame(
        path: NodeRef,
        type: Annotated[str, Field(description="Frame type, e.g. summary or review.")],
        content: Annotated[str, Field(description="The frame's content (UTF-8 text).")],
        agent: Agent = None,
        content_type: Annotated[str, Field(description="MIME type of the content.")] = (
            DEFAULT_CONTENT_TYPE
        ),
        metadata: Annotated[
            dict[str, str] | None, Field(description="Metadata (not hashed).")
        ] = None,
        basis_frame: Annotated[
            str | None, Field(description="Also base the frame on this FrameID.")
        ] = None,
    ) -> CallToolResult:
        """Append a context frame to a node (idempotent); it becomes the head of its type."""
        return _answer(
            lambda: tools.put(path, type, content, agent, content_type, metadata, basis_frame)
        )

    @server.tool(annotations=_WRITE)
    def synthesize(
        path: Annotated[str, Field(description="Directory path ('.' is the root) or NodeID.")],
        type: Annotated[
            str, Field(description="Input frame type of the children ('*' for all heads).")
        ],
        agent: Agent = None,
        policy: Annotated[
            str | None,
            Field(description="concat | summary | filter | a plugin (default: config)."),
        ] = None,
        params: Annotated[dict[str, Any] | None, Field(description="Policy parameters.")] = None,
        recursive: Annotated[bool, Field(description="Synthesize the subtree bottom-up.")] = False,
        missing: Annotated[
            Literal["skip", "fail"] | None,
            Field(description="Children without a frame: skip or fail (default: config)."),
        ] = None,
        output_type: Annotated[
            str | None, Field(description="Frame type of the result (default: the input type).")
        ] = None,
    ) -> CallToolResult:
        """Synthesize a directory's frame from its children's head frames."""
        return _answer(
            lambda: tools.synthesize(
                path, type, agent, policy, params, recursive, missing, output_type
            )
        )

    @server.tool(annotations=_WRITE)
    def regenerate(
        path: NodeRef = ".",
        recursive: Recursive = False,
        dry_run: Annotated[
            bool, Field(description="Report what would be regenerated; write nothing.")
        ] = False,
        agents: Annotated[
            bool,
            Field(
                description="Also redo stale frames that model agents wrote (treeframe generate), "
                "by asking their providers again."
            ),
        ] = False,
    ) -> CallToolResult:
        """Recompute the stale synthesis and generator frames in scope; report the rest."""
        return _answer(lambda: tools.regenerate(path, recursive, dry_run, agents))

    @server.tool(annotations=_READ)
    def diff(
        root_a: Annotated[
            str, Field(description="The old root: hash, prefix (4+ hex), HEAD or HEAD~N.")
        ],
        root_b: Annotated[str, Field(description="The new root (default HEAD).")] = "HEAD",
    ) -> CallToolResult:
        """Minimal changed subtrees between two roots; stale frames on the paths they touch."""
        return _answer(lambda: tools.diff(root_a, root_b))

    def node_context(path: str) -> str:
        try:
            payload = tools.context(path)
        except TreeframeError as exc:
            raise _resource_error(exc) from exc
        return json.dumps(payload, sort_keys=True, ensure_ascii=False)

    @server.resource(CONTEXT_URI, name="root", mime_type="application/json")
    def root_context() -> str:
        """The workspace root's context (get_context with the default view)."""
        return node_context("")

    @server.resource(CONTEXT_URI + "/{+path}", name="node", mime_type="application/json")
    def path_context(path: str) -> str:
        """A node's context by workspace-relative path (get_context with the default view)."""
        return node_context(path)

    return server


def run(server: MCPServer, transport: Transport, *, host: str, port: int) -> None:
    """Serve until the client goes (stdio) or the process is stopped (HTTP, at ``/mcp``)."""
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)
