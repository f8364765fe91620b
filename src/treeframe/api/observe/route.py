"""``GET /v1/metrics``: the Prometheus text exposition, for a scraper only.

Access is separate from the API's tokens, so a scraper holds no right to any
workspace: with ``metrics.token`` set, the request must carry
``Authorization: Bearer <metrics token>`` (compared in constant time); without
one, only a client on a loopback address may scrape (a Prometheus on the same
host, or behind an SSH tunnel). Anything else is ``unauthorized``.
``metrics.enabled = false`` answers 404 like an unknown route.
"""

from __future__ import annotations

import hmac
import ipaddress

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from treeframe.api.auth import bearer_token
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.observe.metrics import CONTENT_TYPE, Metrics
from treeframe.config.settings import Settings
from treeframe.errors import NotFound, Unauthorized

__all__ = ["METRICS_PATH", "router"]

METRICS_PATH = "/v1/metrics"

router = APIRouter(tags=["observability"], responses=ERROR_RESPONSES)


@router.get(
    METRICS_PATH,
    summary="Prometheus metrics (text exposition)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {}}, "description": "Metrics."}},
)
async def metrics(request: Request) -> Response:
    """Every metric family; needs the metrics token, or a loopback client when none is set."""
    collected: Metrics | None = getattr(request.app.state, "metrics", None)
    if collected is None:
        raise NotFound(f"no route {METRICS_PATH}: metrics are disabled (metrics.enabled)")
    settings: Settings = request.app.state.settings
    _admit(request, settings)
    body = await anyio.to_thread.run_sync(collected.exposition)
    return Response(body, media_type=CONTENT_TYPE, headers={"cache-control": "no-store"})


def _admit(request: Request, settings: Settings) -> None:
    secret = settings.metrics.token
    if secret is not None:
        token = bearer_token(request)
        if not hmac.compare_digest(token.encode(), secret.get_secret_value().encode()):
            raise Unauthorized("the metrics token is not the one configured (metrics.token)")
        return
    host = request.client.host if request.client is not None else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise Unauthorized(
            "metrics are served to loopback clients only unless metrics.token is set"
        )
