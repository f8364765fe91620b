"""Schemathesis over every documented route of API v1, in process, against a seeded workspace.

Hypothesis generates requests from the OpenAPI document (valid and not);
every answer must be no 5xx and conform to the document: its status is
documented, its JSON body matches the declared schema, its content type and
headers are the declared ones. The workspace path parameter is pinned to a
real, scanned workspace with frames, so generated requests reach the routes
instead of stopping at ``workspace_not_found``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.routes_env import Env, make_env
from treeframe.api.app import OPENAPI_URL


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    for env in make_env(tmp_path_factory.mktemp("schemathesis")):
        assert env.put("src/app.py", "note", "the app").status_code == 201
        assert env.put("src", "note", "the tree").status_code == 201
        yield env


def known_ids(env: Env) -> dict[str, list[str]]:
    """Real IDs of the seeded workspace, so ID routes are exercised past ``invalid_id``."""
    nodes = [env.node_id(p) for p in ("src/app.py", "src", "")]
    frames = [f for n in nodes for f in env.store.get_heads_many(env.ws, [n]).get(n, {}).values()]
    return {"node_id": nodes, "frame_id": frames}


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_every_route_answers_within_its_documented_contract(seeded: Env):
    schema = schemathesis.openapi.from_asgi(OPENAPI_URL, seeded.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert "POST /v1/workspaces/{ws}/frames" in labels
    assert "GET /v1/workspaces/{ws}/frames/{frame_id}/content" in labels
    known = known_ids(seeded)
    for operation in operations:

        @given(case=operation.as_strategy(), pick=st.integers(min_value=-1, max_value=2))
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: Case, pick: int) -> None:
            params = case.path_parameters or {}
            if "ws" in params:
                params["ws"] = seeded.ws
            for name, ids in known.items():
                if name in params and pick >= 0:
                    params[name] = ids[pick % len(ids)]
            case.call_and_validate(checks=CHECKS)

        conforms()
