"""The error envelope comes back as the library's exception class, with its data attached."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.probe import probe_app
from treeframe import errors
from treeframe.client import AsyncClient
from treeframe.client.call import Call, model, raw
from treeframe.client.errors import error_class, error_classes, error_from_envelope
from treeframe.config.settings import Settings
from treeframe.storage.memory import MemoryStore
from treeframe.wire.common import ApiResponse


def run(call: Call[Any], **client_args: Any) -> Any:
    """Send ``call`` to the probe app in process (the real edge and handlers)."""
    app = probe_app(Settings(), MemoryStore("memory://"))

    async def go() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with AsyncClient("http://probe", transport=transport, **client_args) as client:
            return await client.request(call)

    return asyncio.run(go())


def test_every_error_class_is_mapped_by_its_code():
    classes = error_classes()
    for name in errors.__all__:
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, errors.TreeframeError):
            assert classes[cls.code] is cls, name


def test_unknown_code_falls_back_to_the_root_class_and_keeps_the_code():
    exc = error_from_envelope(418, {"error": {"code": "teapot", "message": "short and stout"}})
    assert type(exc) is errors.TreeframeError
    assert exc.code == "teapot"
    assert exc.message == "short and stout"
    assert error_class("teapot") is errors.TreeframeError


def test_not_an_envelope_is_none():
    assert error_from_envelope(500, ["error"]) is None
    assert error_from_envelope(500, {"error": "x"}) is None
    assert error_from_envelope(500, {"error": {"code": 3}}) is None


def test_route_error_raises_its_class_with_request_id():
    with pytest.raises(errors.FrameNotFound, match="no frame ab12") as caught:
        run(Call("GET", "/v1/probe/missing", model(ApiResponse), headers={"X-Request-ID": "r-1"}))
    assert caught.value.request_id == "r-1"  # type: ignore[attr-defined]
    assert caught.value.status_code == 404  # type: ignore[attr-defined]
    assert caught.value.data["request_id"] == "r-1"  # type: ignore[attr-defined]


def test_schema_errors_arrive_as_tuples_of_fields():
    with pytest.raises(errors.SchemaValidationFailed) as caught:
        run(Call("POST", "/v1/probe/echo", raw, json={"name": "", "count": 0}))
    fields = sorted(e["field"] for e in caught.value.errors)
    assert fields == ["count", "name"]


def test_version_not_supported_lists_the_supported_versions():
    with pytest.raises(errors.VersionNotSupported) as caught:
        run(Call("GET", "/v1/health/live", raw, headers={"X-API-Version": "7"}))
    assert caught.value.supported == ("1",)


def test_unknown_route_is_not_found_and_wrong_method_names_allowed():
    with pytest.raises(errors.NotFound):
        run(Call("GET", "/v1/nope", raw))
    with pytest.raises(errors.MethodNotAllowed) as caught:
        run(Call("DELETE", "/v1/probe/echo", raw))
    assert caught.value.allowed == ("POST",)


def test_internal_error_carries_no_detail():
    with pytest.raises(errors.TreeframeError) as caught:
        run(Call("GET", "/v1/probe/boom", raw), retries=0)
    assert type(caught.value) is errors.TreeframeError
    assert caught.value.code == "internal_error"
    assert "secret" not in caught.value.message


def test_a_body_that_is_not_the_envelope_maps_by_status():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, text="<html>forbidden by proxy</html>")

    async def go() -> Any:
        transport = httpx.MockTransport(handler)
        async with AsyncClient("http://proxy", transport=transport) as client:
            return await client.health_live()

    with pytest.raises(errors.AccessDenied, match="HTTP 403 from server: <html>forbidden"):
        asyncio.run(go())
