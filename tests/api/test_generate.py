"""POST …/generate and regenerate with agents over the app (the server's offline provider)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.routes_env import AGENT, SAMPLE, Env, make_env
from treeframe.config.settings import Settings


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    settings = Settings.model_validate({"agents": {AGENT: {"role": "synthesis"}}})
    yield from make_env(tmp_path, settings)


def _contents(env: Env, *paths: str) -> dict[str, str]:
    return {p: base64.b64encode((env.root / p).read_bytes()).decode() for p in paths}


def test_generate_writes_file_frames_from_sent_contents_and_directory_frames(env: Env):
    files = [p for p in SAMPLE if p.startswith("src/")]
    body = {"node": "src", "recursive": True, "contents": _contents(env, *files)}
    response = env.http.post(f"{env.base}/generate", json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["agent_id"] == AGENT
    assert report["provider"] == "offline"
    assert report["failed"] == 0
    assert report["generated"] == len(files) + 2  # src/db and src
    assert report["api_version"]
    heads = env.store.get_heads_many(env.ws, [env.node_id("src")])[env.node_id("src")]
    assert heads["summary"] == next(e["frame_id"] for e in report["entries"] if e["path"] == "src")
    again = env.http.post(f"{env.base}/generate", json=body).json()
    assert again["generated"] == 0
    assert again["current"] == report["generated"]


def test_files_without_contents_fail_alone_and_bad_contents_are_refused(env: Env):
    response = env.http.post(
        f"{env.base}/generate",
        json={"node": "src", "recursive": True, "contents": _contents(env, "src/app.py")},
    )
    assert response.status_code == 200, response.text
    by_path = {e["path"]: e for e in response.json()["entries"]}
    assert by_path["src/app.py"]["status"] == "generated"
    assert by_path["src/db/pool.py"]["status"] == "failed"
    assert "no content was sent" in by_path["src/db/pool.py"]["reason"]
    assert by_path["src/db/pool.py"]["code"] == "regeneration_failed"
    wrong = {"src/app.py": base64.b64encode(b"not what was scanned").decode()}
    lied = env.http.post(f"{env.base}/generate", json={"node": "src/app.py", "contents": wrong})
    entry = lied.json()["entries"][0]
    assert entry["status"] in ("current", "failed")  # current: its frame is already fresh
    forced = env.http.post(
        f"{env.base}/generate", json={"node": "src/app.py", "contents": wrong, "force": True}
    )
    assert forced.json()["entries"][0]["status"] == "failed"
    assert "changed since the last scan" in forced.json()["entries"][0]["reason"]
    bad = env.http.post(f"{env.base}/generate", json={"node": "src", "contents": {"a": "%%"}})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_request"
    typo = env.http.post(f"{env.base}/generate", json={"node": "src", "directories": "maybe"})
    assert typo.status_code == 422
    assert typo.json()["error"]["code"] == "schema_validation_failed"


def test_regenerate_with_agents_redoes_model_frames_the_edit_made_stale(env: Env):
    body = {"node": "src", "recursive": True, "directories": "provider"}
    body["contents"] = _contents(env, *[p for p in SAMPLE if p.startswith("src/")])
    assert env.http.post(f"{env.base}/generate", json=body).json()["failed"] == 0
    env.edit("src/db/pool.py", "# Pool\nPOOL = 2\n")
    plain = env.http.post(f"{env.base}/regenerate", json={"node": "src", "recursive": True})
    assert plain.json()["regenerated_count"] == 0
    # The server has no tree: the file frame needs bytes it does not hold, directories do not.
    agents = env.http.post(
        f"{env.base}/regenerate", json={"node": "src", "recursive": True, "agents": True}
    ).json()
    reasons = {f["path"]: f["reason"] for f in agents["stale_unrecomputable"]}
    assert "no file content" in reasons["src/db/pool.py"]
