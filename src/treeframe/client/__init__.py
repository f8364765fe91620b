"""The Python client of API v1: ``Client`` (sync) and ``AsyncClient`` (asyncio), over httpx.

Methods return the wire models of :mod:`treeframe.wire` (the server's own
response classes) and raise the library's exception classes
(:mod:`treeframe.errors`) from the error envelope's ``code``. Imports httpx and
the wire models, never the server package.
"""

from treeframe.client.client import AsyncClient, Client
from treeframe.client.retry import RetryPolicy

__all__ = ["AsyncClient", "Client", "RetryPolicy"]
