"""The audit methods: what they send and what they read back.

The audit routes live on the i9-audit branch, which is merged after this
one; until then these tests check the client's half of the contract (path,
query, the shared wire models) against a transport that records each request
and answers with those models. The X-Audit-Head a write answer carries is kept.
"""

from __future__ import annotations

import httpx

from treeframe.client import Client
from treeframe.wire.audit import AuditEntryModel, AuditPage, AuditVerification

WS = "a" * 64
ENTRY = AuditEntryModel(
    seq=3,
    time="2026-12-02T00:00:00Z",
    workspace=WS,
    agent="alice",
    operation="frame.put",
    node="b" * 64,
    frame="c" * 64,
    success=True,
    error=None,
    request_id="r1",
    prev_hash="0" * 64,
    entry_hash="d" * 64,
)


def serve(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/verify"):
            body = AuditVerification(ok=True, entries=3, head=f"3:{'d' * 64}").model_dump_json()
            return httpx.Response(200, text=body, headers={"X-Audit-Head": f"3:{'d' * 64}"})
        return httpx.Response(
            200, text=AuditPage(entries=[ENTRY], next_after=None).model_dump_json()
        )

    return httpx.MockTransport(handler)


def test_audit_log_sends_filters_and_parses_the_page():
    seen: list[httpx.Request] = []
    with Client("http://api", transport=serve(seen)) as client:
        page = client.audit_log(WS, after=2, limit=10, agent="alice", operation="frame.put")
    assert page.entries == [ENTRY]
    assert page.next_after is None
    (request,) = seen
    assert request.url.path == f"/v1/workspaces/{WS}/audit"
    assert dict(request.url.params) == {
        "after": "2",
        "limit": "10",
        "agent": "alice",
        "operation": "frame.put",
    }


def test_verify_sends_the_kept_head():
    seen: list[httpx.Request] = []
    with Client("http://api", transport=serve(seen)) as client:
        first = client.verify_audit(WS)
        assert client.audit_head == f"3:{'d' * 64}"  # kept from the answer's header
        again = client.verify_audit(WS, head=client.audit_head)
    assert first.ok
    assert again.ok
    assert "head" not in seen[0].url.params
    assert seen[1].url.params["head"] == f"3:{'d' * 64}"
    assert seen[1].url.path == f"/v1/workspaces/{WS}/audit/verify"
