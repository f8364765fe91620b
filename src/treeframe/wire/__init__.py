"""The JSON shapes of API v1: plain pydantic models shared by the server and the client.

Nothing here imports FastAPI, httpx or the engine's services: the server
(:mod:`treeframe.api`) converts engine values into these models, and the
Python client (:mod:`treeframe.client`) parses responses with the same
classes, so the two cannot drift. One module per resource
(``common``, ``workspaces``, ``nodes``, ``frames``, ``push``, ``audit``, ...).
"""
