"""audit verify/list: check a workspace's audit hash chain and read its entries."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from treeframe.cli.common import JsonOpt, StoreOpt, WorkspaceOpt, open_workspace
from treeframe.cli.output import print_json, shown
from treeframe.engine.audit import Operation, verify_workspace
from treeframe.errors import InvalidRequest
from treeframe.storage.base import AuditEntry

__all__ = ["EXIT_TAMPERED", "entry_dict", "register"]

EXIT_TAMPERED = 3
"""Exit status of ``audit verify`` for a damaged chain (as ``verify`` for damage)."""

audit_app = typer.Typer(
    help="The workspace's tamper-evident audit log: verify the chain, list entries.",
    no_args_is_help=True,
)


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    """JSON-ready form of one entry (the fields of the chain, ``workspace`` included)."""
    return {
        "seq": entry.seq,
        "time": entry.time,
        "workspace": entry.workspace,
        "agent": entry.agent,
        "operation": entry.operation,
        "node": entry.node,
        "frame": entry.frame,
        "success": entry.success,
        "error": entry.error,
        "request_id": entry.request_id,
        "prev_hash": entry.prev_hash,
        "entry_hash": entry.entry_hash,
    }


@audit_app.command("verify")
def verify(
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="A head kept earlier (SEQ:HASH, from X-Audit-Head): also detects truncation.",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Recompute the audit chain; exit 3 naming the first bad entry when it was tampered with."""
    with open_workspace(store, workspace, read_only=True) as ws:
        report = verify_workspace(ws.store, ws.ws, head=head)
    problem = report.problem
    if json_out:
        print_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "head": report.head,
                "problem": None
                if problem is None
                else {"seq": problem.seq, "kind": problem.kind, "message": problem.message},
            }
        )
    elif problem is None:
        typer.echo(f"ok: {report.entries} entries, head {report.head or 'none'}")
    else:
        typer.echo(
            f"audit log damaged at seq {problem.seq}: {problem.kind}: {problem.message}", err=True
        )
    if problem is not None:
        raise typer.Exit(EXIT_TAMPERED)


@audit_app.command("list")
def list_entries(
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="Only this agent's entries.", show_default=False)
    ] = None,
    operation: Annotated[
        str | None,
        typer.Option(
            "--operation", help="Only this operation (e.g. frame.put).", show_default=False
        ),
    ] = None,
    node: Annotated[
        str | None, typer.Option("--node", help="Only entries on this NodeID.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Most entries.")] = 100,
    after: Annotated[
        int,
        typer.Option("--after", min=0, max=2**63 - 1, help="Start after this seq (keyset paging)."),
    ] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Entries by seq, oldest first, optionally filtered by agent, operation or node."""
    if operation is not None and operation not in {str(op) for op in Operation}:
        known = ", ".join(str(op) for op in Operation)
        raise InvalidRequest(f"unknown operation {operation!r} (known: {known})")
    with open_workspace(store, workspace, read_only=True) as ws:
        entries = ws.store.list_audit(
            ws.ws, after_seq=after, limit=limit, agent=agent, operation=operation, node=node
        )
    if json_out:
        print_json({"entries": [entry_dict(e) for e in entries]})
        return
    for e in entries:
        outcome = "ok" if e.success else f"refused {e.error}"
        where = " ".join(x[:12] for x in (e.node, e.frame) if x)
        who = shown(e.agent) if e.agent is not None else "(owner)"
        typer.echo(f"{e.seq:>6}  {e.time}  {who}  {e.operation}  {outcome}  {where}".rstrip())


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.add_typer(audit_app, name="audit")
