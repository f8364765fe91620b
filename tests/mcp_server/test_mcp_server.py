"""``treeframe mcp`` driven by the MCP SDK's own client.

The server runs as a real subprocess over stdio (as an agent starts it) on
a scanned SQLite workspace; one test per concern, each one session. Remote
mode talks to a real ``treeframe serve`` with a real token; the streamable
HTTP transport is exercised once. Every session is bounded by a deadline.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult

from tests.api.conftest import Server, free_port, start_server, stop_server
from tests.cli.helpers import SAMPLE, make_tree, run_cli_in_process

AGENT = "bot"
T = TypeVar("T")
DEADLINE = 60.0
TOOLS = {"get_context", "list_stale", "put_frame", "synthesize", "regenerate", "diff"}


def cli(root: Path, *args: str) -> dict[str, Any] | None:
    result = run_cli_in_process(root, *args)
    assert result.code == 0, result
    return result.json() if "--json" in args else None


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    make_tree(root, SAMPLE)
    cli(root, "init")
    cli(root, "agent", "add", AGENT, "--role", "synthesis")
    cli(root, "scan")
    return root


def session(
    cwd: Path, scenario: Callable[[Client], Awaitable[T]], *args: str, timeout: float = DEADLINE
) -> T:
    """Run ``scenario`` against ``treeframe mcp ARGS`` spawned in ``cwd`` over stdio."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "treeframe", "mcp", *args], cwd=str(cwd)
    )

    async def main() -> T:
        with anyio.fail_after(timeout):
            async with Client(params, cache=None) as client:
                return await scenario(client)

    return anyio.run(main)


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    payload = result.structured_content
    assert isinstance(payload, dict)
    assert json.loads(result.content[0].text) == payload  # type: ignore[union-attr]
    assert isinstance(payload["stale"], list)
    return payload


def error_code(result: CallToolResult) -> str:
    assert result.is_error
    error = result.structured_content["error"]  # type: ignore[index]
    assert result.content[0].text == f"{error['code']}: {error['message']}"  # type: ignore[union-attr]
    code: str = error["code"]
    return code


def test_lists_the_six_tools_and_the_context_resources(workspace: Path) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        tools = await client.list_tools()
        resources = await client.list_resources()
        templates = await client.list_resource_templates()
        return tools.tools, resources.resources, templates.resource_templates

    tools, resources, templates = session(workspace, scenario)
    assert {t.name for t in tools} == TOOLS
    schema = next(t for t in tools if t.name == "get_context").input_schema
    assert {"path", "max_frames", "max_bytes"} <= set(schema["properties"])
    assert [str(r.uri) for r in resources] == ["treeframe://context"]
    assert [t.uri_template for t in templates] == ["treeframe://context/{+path}"]


def test_a_put_frame_is_in_get_context_and_the_resource(workspace: Path) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        put = ok(
            await client.call_tool(
                "put_frame",
                {"path": "src/app.py", "type": "summary", "content": "entry", "agent": AGENT},
            )
        )
        context = ok(await client.call_tool("get_context", {"path": "src/app.py"}))
        bounded = ok(
            await client.call_tool(
                "get_context", {"path": "src/app.py", "max_frames": 1, "max_bytes": 2}
            )
        )
        stale = ok(await client.call_tool("list_stale", {"path": ".", "recursive": True}))
        read = await client.read_resource("treeframe://context/src/app.py")
        root = await client.read_resource("treeframe://context")
        return put, context, bounded, stale, read, root

    put, context, bounded, stale, read, root = session(workspace, scenario)
    frame_id = put["frame"]["frame_id"]
    assert put["frame"]["created"] is True
    assert put["stale"] == []
    assert context["path"] == "src/app.py"
    (frame,) = context["frames"]
    assert (frame["frame_id"], frame["content"]) == (frame_id, "entry")
    assert (frame["head"], frame["stale"], frame["incomplete"]) == (True, False, False)
    assert context["stale"] == []
    assert bounded["policy"]["max_frames"] == 1
    assert bounded["policy"]["max_bytes"] == 2
    assert stale["stale"] == []
    served = json.loads(read.contents[0].text)  # type: ignore[union-attr]
    assert read.contents[0].mime_type == "application/json"
    assert [f["frame_id"] for f in served["frames"]] == [frame_id]
    assert json.loads(root.contents[0].text)["kind"] == "dir"  # type: ignore[union-attr]


def test_an_edit_and_a_scan_make_the_frame_stale_in_every_answer(workspace: Path) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        put = ok(
            await client.call_tool(
                "put_frame",
                {"path": "src/app.py", "type": "summary", "content": "entry", "agent": AGENT},
            )
        )
        (workspace / "src" / "app.py").write_text("print('changed')\n", encoding="utf-8")
        await anyio.to_thread.run_sync(lambda: cli(workspace, "scan"))
        listed = ok(await client.call_tool("list_stale", {"path": "src", "recursive": True}))
        context = ok(await client.call_tool("get_context", {"path": "src/app.py"}))
        diff = ok(await client.call_tool("diff", {"root_a": "HEAD~1"}))
        regen = ok(await client.call_tool("regenerate", {"path": ".", "recursive": True}))
        return put["frame"]["frame_id"], listed, context, diff, regen

    frame_id, listed, context, diff, regen = session(workspace, scenario)
    (entry,) = listed["stale"]
    assert (entry["frame_id"], entry["path"], entry["frame_type"]) == (
        frame_id,
        "src/app.py",
        "summary",
    )
    assert entry["reason"]
    assert entry["recomputable"] is False
    (frame,) = context["frames"]
    assert (frame["frame_id"], frame["stale"], frame["previous"], frame["head"]) == (
        frame_id,
        True,
        True,
        False,
    )
    assert [s["frame_id"] for s in context["stale"]] == [frame_id]
    assert [e["path"] for e in diff["entries"]] == ["src/app.py"]
    assert [s["frame_id"] for s in diff["stale"]] == [frame_id]
    # An agent's frame is never rewritten: still stale, reported as needing its agent.
    assert regen["regenerated_count"] == 0
    assert [s["frame_id"] for s in regen["stale"]] == [frame_id]


def test_synthesize_and_regenerate_report_what_they_wrote(workspace: Path) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        for path in ("src/app.py", "src/lib/util.py"):
            ok(
                await client.call_tool(
                    "put_frame", {"path": path, "type": "summary", "content": path, "agent": AGENT}
                )
            )
        made = ok(
            await client.call_tool(
                "synthesize", {"path": "src", "type": "summary", "agent": AGENT, "recursive": True}
            )
        )
        ok(
            await client.call_tool(
                "put_frame",
                {"path": "src/lib/util.py", "type": "summary", "content": "v2", "agent": AGENT},
            )
        )
        dry = ok(
            await client.call_tool(
                "regenerate", {"path": "src", "recursive": True, "dry_run": True}
            )
        )
        regen = ok(await client.call_tool("regenerate", {"path": "src", "recursive": True}))
        return made, dry, regen

    made, dry, regen = session(workspace, scenario)
    assert len(made["frames"]) == 2  # src/lib, then src
    assert made["stale"] == []
    stale_ids = {s["frame_id"] for s in dry["stale"]}
    assert {f["frame_id"] for f in made["frames"]} <= stale_ids
    assert dry["dry_run"] is True
    assert regen["regenerated_count"] == 2
    assert regen["stale"] == []


def test_the_newcomer_loop_generate_edit_stale_regenerate_with_no_keys(workspace: Path) -> None:
    """The issue's "done when": offline generation, an edit, stale, regenerated, read via MCP."""
    made = cli(workspace, "generate", ".", "--agent", AGENT, "-r", "--json")
    assert made is not None
    assert made["failed"] == 0
    (workspace / "src" / "app.py").write_text("print('edited')\n", encoding="utf-8")
    cli(workspace, "scan")

    async def scenario(client: Client) -> tuple[Any, ...]:
        stale = ok(await client.call_tool("list_stale", {"path": ".", "recursive": True}))
        plain = ok(await client.call_tool("regenerate", {"path": ".", "recursive": True}))
        redone = ok(
            await client.call_tool("regenerate", {"path": ".", "recursive": True, "agents": True})
        )
        context = ok(await client.call_tool("get_context", {"path": "src/app.py"}))
        return stale, plain, redone, context

    stale, plain, redone, context = session(workspace, scenario)
    assert {s["path"] for s in stale["stale"]} == {"src/app.py", "src", ""}
    assert plain["regenerated_count"] == 0  # model frames need --agents
    assert redone["regenerated_count"] == 3
    assert redone["stale"] == []
    assert context["stale"] == []
    head = next(f for f in context["frames"] if f["frame_type"] == "summary" and f["head"])
    assert "src/app.py: Python, 1 line," in head["content"]


def test_bad_inputs_are_tool_errors_with_their_stable_codes(workspace: Path) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("get_context", {"path": "no/such/file"}),
            ("list_stale", {"path": "missing.txt"}),
            ("put_frame", {"path": "README.md", "type": " ", "content": "x", "agent": AGENT}),
            ("put_frame", {"path": "README.md", "type": "summary", "content": "x"}),
            ("put_frame", {"path": "README.md", "type": "t", "content": "x", "agent": "nobody"}),
            ("synthesize", {"path": "src", "type": "summary", "agent": AGENT, "policy": "nope"}),
            ("diff", {"root_a": "zzzz"}),
            ("get_context", {"path": "README.md", "max_frames": 10**6}),
        ]
        codes = [error_code(await client.call_tool(name, args)) for name, args in calls]
        bad_schema = await client.call_tool("get_context", {"max_frames": 0})
        try:
            await client.read_resource("treeframe://context/no/such/file")
        except MCPError as exc:
            return codes, bad_schema, exc.data
        raise AssertionError("reading an unknown node's resource did not fail")

    codes, bad_schema, data = session(workspace, scenario)
    assert codes == [
        "node_not_found",
        "node_not_found",
        "invalid_frame",
        "access_denied",
        "unauthorized",
        "invalid_policy",
        "invalid_id",
        "invalid_view_policy",
    ]
    assert bad_schema.is_error  # refused by the tool's input schema, before treeframe
    assert data == {"code": "node_not_found"}


def test_as_agent_is_the_default_author(workspace: Path) -> None:
    async def scenario(client: Client) -> dict[str, Any]:
        return ok(
            await client.call_tool(
                "put_frame", {"path": "README.md", "type": "note", "content": "read me"}
            )
        )

    put = session(workspace, scenario, "--as", AGENT)
    assert put["frame"]["agent_id"] == AGENT


@pytest.fixture
def served(workspace: Path, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    cli(
        workspace,
        "acl",
        "grant",
        "--workspace",
        "default",
        "--agent",
        AGENT,
        "--perm",
        "read,write",
    )
    made = cli(
        workspace,
        "token",
        "create",
        "--workspace",
        "default",
        "--agent",
        AGENT,
        "--perm",
        "read,write",
        "--json",
    )
    assert made is not None
    server = start_server(tmp_path, workspace / ".treeframe" / "store.db", app=None)
    try:
        yield server, made["token"]
    finally:
        stop_server(server)


def test_remote_mode_runs_the_tools_on_the_server(
    served: tuple[Server, str], tmp_path: Path
) -> None:
    server, token = served
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    async def scenario(client: Client) -> tuple[Any, ...]:
        put = ok(
            await client.call_tool(
                "put_frame", {"path": "docs/guide.md", "type": "review", "content": "fine"}
            )
        )
        context = ok(await client.call_tool("get_context", {"path": "docs/guide.md"}))
        diff = ok(await client.call_tool("diff", {"root_a": "HEAD"}))
        listed = ok(await client.call_tool("list_stale", {"recursive": True}))
        dry = ok(await client.call_tool("regenerate", {"recursive": True, "dry_run": True}))
        missing = error_code(await client.call_tool("get_context", {"path": "nope"}))
        return put, context, diff, (listed, dry), missing

    put, context, diff, (listed, dry), missing = session(
        elsewhere, scenario, "--server", server.url, "--token", token
    )
    assert put["frame"]["agent_id"] == AGENT  # the token's agent
    assert [f["frame_id"] for f in context["frames"]] == [put["frame"]["frame_id"]]
    assert context["stale"] == []
    assert diff["same"] is True
    assert listed["stale"] == []
    assert (dry["dry_run"], dry["stale"]) == (True, [])
    assert missing == "node_not_found"


def test_streamable_http_transport_serves_the_tools(workspace: Path, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "mcp-http.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "treeframe", "mcp", "--transport", "http", "--port", str(port)],
        cwd=workspace,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            assert process.poll() is None, (tmp_path / "mcp-http.log").read_text()
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the HTTP transport did not start"
                time.sleep(0.1)

        async def main() -> Any:
            with anyio.fail_after(DEADLINE):
                async with Client(url, cache=None) as client:
                    tools = await client.list_tools()
                    context = ok(await client.call_tool("get_context", {"path": "README.md"}))
                    return {t.name for t in tools.tools}, context

        names, context = anyio.run(main)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
    assert names == TOOLS
    assert context["path"] == "README.md"
    assert f"streamable HTTP at {url}" in (tmp_path / "mcp-http.log").read_text()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--transport", "sse"), "invalid_request"),
        (("--server", "http://127.0.0.1:9", "--as", AGENT), "invalid_request"),
        (("--as", "nobody"), "unauthorized"),
    ],
    ids=["unknown-transport", "as-with-server", "unknown-agent"],
)
def test_bad_options_are_one_line_before_serving(
    workspace: Path, args: tuple[str, ...], needle: str
) -> None:
    result = run_cli_in_process(workspace, "mcp", *args)
    assert result.code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr


def test_an_address_in_use_is_one_line(workspace: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli_in_process(workspace, "mcp", "--transport", "http", "--port", str(port))
    assert result.code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "config_error" in result.stderr


def test_without_the_sdk_it_names_the_extra(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    result = run_cli_in_process(workspace, "mcp")
    assert result.code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "pip install 'treeframe[mcp]'" in result.stderr


def test_stdout_carries_only_the_protocol(workspace: Path) -> None:
    """Raw JSON-RPC over the pipes, with logging on: every stdout line is a message."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "list_stale", "arguments": {"path": "."}},
        },
    ]
    with subprocess.Popen(
        [sys.executable, "-m", "treeframe", "-vv", "mcp"],
        cwd=workspace,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
            process.stdin.flush()
            answers = [json.loads(process.stdout.readline()) for _ in range(2)]
            process.stdin.close()  # end of input: the server stops
            process.wait(timeout=DEADLINE)
            rest = process.stdout.read()
        finally:
            if process.poll() is None:
                process.kill()
    assert [a["id"] for a in answers] == [1, 2]
    assert answers[1]["result"]["structuredContent"]["stale"] == []
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in rest.splitlines())
    assert process.returncode == 0
