"""The MCP server (``treeframe mcp``): treeframe's context tools for MCP-capable agents.

:mod:`treeframe.mcp.backend` is the seam to one workspace (a local store or a
server); :mod:`treeframe.mcp.server` builds the server with the official
``mcp`` SDK (the ``mcp`` extra), imported only there, so the backends load
without it. See docs/INTEGRATION.md.
"""
