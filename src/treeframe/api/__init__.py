"""The REST API (layer L5, beside the CLI): ``create_app(settings, store)`` builds API v1.

Needs the ``server`` extra (FastAPI, uvicorn); nothing below this package
imports it. ``treeframe serve`` runs it on uvicorn (docs/API.md).
"""

from treeframe.api.app import create_app, openapi_document

__all__ = ["create_app", "openapi_document"]
