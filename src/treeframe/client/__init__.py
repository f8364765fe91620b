"""The Python client of API v1 (httpx); it shares the wire models, never imports the server."""
