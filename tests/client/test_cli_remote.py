"""The CLI's remote mode prints what the local command prints, byte for byte.

One workspace directory and its store; a real ``treeframe serve`` of that
store with real authentication (a token made with ``treeframe token
create``); each command runs once locally and once with ``--server`` and
``--token`` (or their environment variables), and the outputs are compared.
Only the two duration fields of ``regenerate`` are masked: they measure time.
The comparisons run the CLI's ``main`` in this process (a subprocess costs a
second or more per command here); a few cases run ``python -m treeframe``.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.conftest import Server, start_server, stop_server
from tests.api.routes_env import SAMPLE, write_tree
from tests.cli.helpers import Result, run_cli
from treeframe.cli.main import main

AGENT = "alice"


@dataclass
class Remote:
    root: Path
    server: Server
    token: str

    def local(self, *args: str, cwd: Path | None = None) -> Result:
        return checked(in_process(cwd or self.root, *args))

    def remote(self, *args: str, cwd: Path | None = None) -> Result:
        flags = ("--server", self.server.url, "--token", self.token)
        return checked(in_process(cwd or self.root, *args, *flags))

    def both(self, *args: str, cwd: Path | None = None) -> tuple[str, str]:
        return self.local(*args, cwd=cwd).stdout, self.remote(*args, cwd=cwd).stdout


def in_process(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """``treeframe ARGS`` run by the CLI's ``main`` here, in ``cwd``, without TREEFRAME_* variables."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        for name in [n for n in os.environ if n.startswith("TREEFRAME_")]:
            patch.delenv(name)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    return Result(code, out.getvalue(), err.getvalue())


def checked(result: Result) -> Result:
    assert result.code == 0, result
    return result


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    tmp = tmp_path_factory.mktemp("remote")
    root = tmp / "tree"
    root.mkdir()
    write_tree(root, SAMPLE)
    for args in (
        ("init",),
        ("agent", "add", AGENT, "--role", "synthesis"),
        ("scan",),
        ("put", "src/db/models.py", "--type", "summary", "--agent", AGENT, "--content", "models"),
        ("put", "src/db/pool.py", "--type", "summary", "--agent", AGENT, "--content", "pool"),
        ("put", "README.md", "--type", "summary", "--agent", AGENT, "--content", "the readme"),
        ("put", "README.md", "--type", "review", "--agent", AGENT, "--content", "looks fine"),
        ("synthesize", "src", "--type", "summary", "--agent", AGENT, "-r"),
        (
            "acl",
            "grant",
            "--workspace",
            "default",
            "--agent",
            AGENT,
            "--perm",
            "read,write,synthesize",
        ),
    ):
        checked(in_process(root, *args))
    made = checked(
        in_process(
            root,
            "token",
            "create",
            "--workspace",
            "default",
            "--agent",
            AGENT,
            "--perm",
            "read,write,synthesize",
            "--json",
        )
    ).json()
    server = start_server(tmp, root / ".treeframe" / "store.db", app=None)
    try:
        yield Remote(root, server, made["token"])
    finally:
        stop_server(server)


READS = [
    ("get", "src/db/models.py"),
    ("get", "README.md", "--order", "type", "--priority", "review,summary"),
    ("get", "README.md", "--type", "summary", "--max", "1", "--max-bytes", "100"),
    ("heads", "README.md"),
    ("node", "src"),
    ("node", "README.md"),
    ("ls",),
    ("ls", "src/db"),
    ("ls", "README.md"),
    ("stale", "-r"),
    ("compose", "src/db/models.py", "--source", "node", "--source", "siblings"),
    (
        "compose",
        "src/db/pool.py",
        "--source",
        "parent",
        "--related",
        "README.md",
        "--order",
        "score",
    ),
]


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("args", READS, ids=[" ".join(a) for a in READS])
def test_reads_print_the_same_locally_and_remotely(
    remote: Remote, args: tuple[str, ...], json_out: bool
):
    full = (*args, "--json") if json_out else args
    local, over_http = remote.both(*full)
    assert local  # something was printed
    assert over_http == local


def test_proof_and_frame_print_the_same(remote: Remote):
    heads = remote.local("heads", "README.md", "--json").json()["heads"]
    for fid in heads.values():
        for extra in ((), ("--json",)):
            local, over_http = remote.both("proof", "README.md", fid, *extra)
            assert over_http == local
            assert "valid" in local
            local, over_http = remote.both("frame", fid, *extra)
            assert over_http == local


def test_paths_are_relative_to_the_current_directory_as_locally(remote: Remote):
    src = remote.root / "src"
    for args in (("get", "db/pool.py"), ("ls",), ("node", ".."), ("heads", "db", "--json")):
        local, over_http = remote.both(*args, cwd=src)
        assert over_http == local


def test_environment_variables_select_the_server(remote: Remote, tmp_path: Path):
    env = {"TREEFRAME_SERVER": remote.server.url, "TREEFRAME_TOKEN": remote.token}
    # Outside any workspace directory: paths are workspace-relative.
    result = checked(in_process(tmp_path, "get", "src/db/models.py", "--json", env=env))
    assert result.stdout == remote.local("get", "src/db/models.py", "--json").stdout
    dotted = checked(in_process(tmp_path, "ls", "./src//db/", env=env))
    assert dotted.stdout == remote.local("ls", "src/db").stdout


def test_put_remotely_then_locally_is_the_same_frame(remote: Remote):
    args = ("put", "docs/guide.md", "--type", "note", "--agent", AGENT, "--content", "over http")
    first = remote.remote(*args, "--json").json()
    assert first["created"] is True
    assert first["agent_id"] == AGENT
    local_again, remote_again = remote.both(*args, "--json")
    assert remote_again == local_again
    assert remote.remote(*args).stdout == f"{first['frame_id']}\n" == remote.local(*args).stdout
    view = remote.local("get", "docs/guide.md", "--json").json()
    assert [f["content"] for f in view["frames"]] == ["over http"]


def test_binary_put_from_stdin_round_trips(remote: Remote):
    data = bytes(range(256)) * 4
    args = ("put", "docs/guide.md", "-", "--type", "blob", "--agent", AGENT)
    result = checked(
        run_cli(
            remote.root,
            *args,
            "--content-type",
            "application/octet-stream",
            "--server",
            remote.server.url,
            "--token",
            remote.token,
            stdin=data,
        )
    )
    fid = result.stdout.strip()
    local = checked(
        run_cli(remote.root, *args, "--content-type", "application/octet-stream", stdin=data)
    )
    assert local.stdout.strip() == fid


def test_synthesize_remotely_then_locally_prints_the_same(remote: Remote):
    args = ("synthesize", "docs", "--type", "note", "--agent", AGENT)
    first = remote.remote(*args).stdout
    assert first.startswith("1 frame written")
    assert remote.local(*args).stdout == first
    local, over_http = remote.both(*args, "--json")
    assert over_http == local


def test_generate_remotely_sends_the_local_files_and_writes_the_local_frames(remote: Remote):
    args = ("generate", "docs", "--agent", AGENT, "-r", "--type", "gist", "--json")
    over_http = remote.remote(*args).json()
    assert over_http["failed"] == 0
    assert over_http["generated"] == 2  # docs/guide.md and docs
    # The offline provider is deterministic: the local run finds exactly those frames current.
    local = remote.local(*args).json()
    assert local["generated"] == 0
    assert [e["frame_id"] for e in local["entries"]] == [
        e["frame_id"] for e in over_http["entries"]
    ]


_DURATION = re.compile(r'(in )\d+( ms)|("duration_ms": )\d+')


def masked(text: str) -> str:
    return _DURATION.sub(lambda m: (m.group(1) or m.group(3)) + "N" + (m.group(2) or ""), text)


def test_regenerate_after_an_edit(remote: Remote):
    (remote.root / "src" / "db" / "pool.py").write_text("# Pool\nPOOL = 2\n", encoding="utf-8")
    checked(in_process(remote.root, "scan"))
    stale_local, stale_remote = remote.both("stale", "-r", "--json")
    assert stale_remote == stale_local
    assert "src/db" in stale_local
    for extra in ((), ("--json",)):
        local, over_http = remote.both("regenerate", ".", "-r", "--dry-run", *extra)
        assert masked(over_http) == masked(local)
    done = remote.remote("regenerate", ".", "-r", "--json").json()
    assert done["regenerated_count"] >= 1
    assert done["dry_run"] is False
    # Remotely regenerated: nothing is left for the local command to recompute.
    assert remote.local("regenerate", ".", "-r", "--json").json()["regenerated_count"] == 0


def test_errors_are_one_line_with_the_same_code(remote: Remote):
    for args in (("get", "no/such/file"), ("heads", "f" * 64)):
        local = in_process(remote.root, *args)
        over_http = in_process(
            remote.root, *args, "--server", remote.server.url, "--token", remote.token
        )
        assert local.code == over_http.code == 1
        assert len(over_http.stderr.strip().splitlines()) == 1
        assert "node_not_found" in over_http.stderr
        assert "node_not_found" in local.stderr


def test_bad_token_and_unreachable_server_fail_cleanly(remote: Remote, tmp_path: Path):
    bad = in_process(remote.root, "ls", "--server", remote.server.url, "--token", "tft_nope")
    assert bad.code == 1
    assert "unauthorized" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    gone = in_process(remote.root, "ls", "--server", "http://127.0.0.1:9", "--token", "x")
    assert gone.code == 1
    assert "backend_unavailable" in gone.stderr
    both = in_process(remote.root, "ls", "--server", remote.server.url, "--store", "sqlite:///x.db")
    assert both.code == 1
    assert "not both" in both.stderr
