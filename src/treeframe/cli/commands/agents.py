"""agent add | list | show: the workspace's agent registry."""

from __future__ import annotations

from typing import Annotated

import typer

from treeframe.cli.common import JsonOpt, StoreOpt, WorkspaceOpt, open_workspace, principal_for
from treeframe.cli.output import console, print_json, print_table
from treeframe.engine.agents import AgentRecord
from treeframe.errors import InvalidRequest

__all__ = ["register"]

agent_app = typer.Typer(help="Register and inspect agents (reader, writer, synthesis).")


@agent_app.command("add")
def add(
    agent_id: Annotated[str, typer.Argument(help="Agent ID (enters every FrameID it writes).")],
    role: Annotated[str, typer.Option("--role", help="reader | writer | synthesis")] = "writer",
    capability: Annotated[
        list[str] | None,
        typer.Option("--capability", help="Extra capability (synthesize); repeat."),
    ] = None,
    generator: Annotated[
        str | None,
        typer.Option("--generator", help="Deterministic generator this agent runs (e.g. stats)."),
    ] = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register (or update) an agent in this workspace."""
    if role not in ("reader", "writer", "synthesis"):
        raise InvalidRequest(f"unknown role {role!r} (use reader, writer or synthesis)")
    with open_workspace(store, workspace) as ws:
        if generator is not None:
            ws.api.runtime.generators.get(generator)
        record = ws.api.register_agent(
            AgentRecord(
                agent_id,
                role,  # type: ignore[arg-type]
                tuple(sorted(capability or ())),
                generator=generator,
            ),
            principal=principal_for(ws, None),
        )
    if json_out:
        print_json(record.to_dict())
    else:
        console.print(f"agent {record.agent_id} ({record.role}) registered")


@agent_app.command("list")
def list_agents(
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List every agent (registered in the store or declared in configuration)."""
    with open_workspace(store, workspace, read_only=True) as ws:
        agents = ws.api.list_agents(principal=principal_for(ws, None))
    if json_out:
        print_json({"agents": [a.to_dict() for a in agents]})
        return
    print_table(
        ["agent", "role", "capabilities", "generator"],
        [[a.agent_id, a.role, ",".join(a.capabilities), a.generator or ""] for a in agents],
    )


@agent_app.command("show")
def show(
    agent_id: Annotated[str, typer.Argument(help="Agent ID.")],
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one agent."""
    from treeframe.errors import NotFound

    with open_workspace(store, workspace, read_only=True) as ws:
        record = ws.api.get_agent(agent_id, principal=principal_for(ws, None))
    if record is None:
        raise NotFound(f"no agent {agent_id!r} in this workspace")
    if json_out:
        print_json(record.to_dict())
        return
    for key, value in record.to_dict().items():
        console.print(f"{key:13} {value}")


def register(app: typer.Typer) -> None:
    """Attach the ``agent`` group."""
    app.add_typer(agent_app, name="agent")
