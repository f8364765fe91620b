"""treeframe generate with configured remote providers, against the fake model server (loopback only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import assert_one_line_error, run_cli, run_cli_in_process
from tests.fakes.model_server import FakeModelServer, RecordedRequest, Reply


def _configure(workspace: Path, fake: FakeModelServer, kind: str, **provider: object) -> None:
    table = fake.provider_config(kind, max_retries=1, backoff_seconds=0, **provider)
    lines = ["[providers.remote]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    lines += [
        "",
        "[agents.writer1]",
        'role = "writer"',
        'capabilities = ["synthesize"]',
        'provider = "remote"',
        'model = "m-large"',
        "",
        "[agents.writer1.prompts]",
        'file = "Describe ${path}:\\n${content}"',
    ]
    (workspace / ".treeframe" / "config.toml").write_text("\n".join(lines) + "\n")
    assert run_cli_in_process(workspace, "agent", "add", "writer1", "--role", "writer").code == 0


def _by_path(request: RecordedRequest) -> str:
    body = request.body
    messages = body["messages"]
    return str(messages[-1]["content"]).split(":", 1)[0]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_generate_streams_from_each_wire_format_and_records_what_it_asked(
    workspace: Path, fake_models: FakeModelServer, kind: str
):
    _configure(workspace, fake_models, kind, input_cost_per_mtok=1.0, output_cost_per_mtok=4.0)
    fake_models.respond_with(
        lambda request: Reply.ok(f"about {_by_path(request)}", usage=(1000, 250))
    )
    result = run_cli_in_process(workspace, "generate", "src", "--agent", "writer1", "-r", "--json")
    assert result.code == 0, result
    report = json.loads(result.stdout)
    assert report["provider"] == "remote"
    assert report["model"] == "m-large"
    assert report["failed"] == 0
    files = [e for e in report["entries"] if e["kind"] == "file"]
    assert {e["status"] for e in files} == {"generated"}
    asked = len(fake_models.requests)
    assert report["input_tokens"] == 1000 * asked
    assert report["cost"] == pytest.approx(asked * (1000 * 1.0 + 250 * 4.0) / 1e6)
    bodies = [r.body for r in fake_models.requests]
    assert all(b["model"] == "m-large" and b["stream"] is True for b in bodies)
    assert any(str(b["messages"][-1]["content"]).startswith("Describe src/app.py:") for b in bodies)
    shown = run_cli_in_process(workspace, "get", "src/app.py", "--json")
    frames = json.loads(shown.stdout)["frames"]
    head = next(f for f in frames if f["frame_type"] == "summary")
    assert head["content"] == "about Describe src/app.py\n"
    assert head["metadata"]["generate.provider"] == "remote"
    again = run_cli_in_process(workspace, "generate", "src", "--agent", "writer1", "-r", "--json")
    assert json.loads(again.stdout)["generated"] == 0
    assert len(fake_models.requests) == asked  # nothing asked twice


def test_an_unavailable_provider_fails_its_nodes_with_the_mapped_code(
    workspace: Path, fake_models: FakeModelServer
):
    _configure(workspace, fake_models, "openai")
    fake_models.respond_with(
        lambda request: (
            Reply.error(503, "overloaded")
            if "app.py" in str(request.body["messages"][-1]["content"])
            else Reply.ok("fine")
        )
    )
    result = run_cli(workspace, "generate", "src", "--agent", "writer1", "-r")
    assert result.code == 1, result
    assert "failed: src/app.py:" in result.stdout
    assert "[provider_unavailable]" in result.stdout
    assert result.stderr.strip().endswith("[provider_unavailable]")


def test_refused_credentials_stop_at_once_with_one_line(
    workspace: Path, fake_models: FakeModelServer
):
    _configure(workspace, fake_models, "anthropic", api_key="sk-test-secret-123")
    fake_models.respond_with(lambda request: Reply.error(401, "invalid x-api-key"))
    result = run_cli(workspace, "generate", "src", "--agent", "writer1", "-r")
    assert_one_line_error(result, "provider_auth_failed")
    assert "sk-test-secret-123" not in result.stderr + result.stdout
    assert fake_models.last.headers["x-api-key"] == "sk-test-secret-123"
