"""Seeing what treeframe does: progress, structured logs, metrics and tracing hooks.

The pieces below the engine (``progress``, ``events``, ``logs``, ``tracing``)
need nothing but the standard library and ``structlog``, so the core reports
through them without knowing who listens: the CLI draws bars and prints log
lines, the server keeps job status, Prometheus metrics and JSON logs.
"""
