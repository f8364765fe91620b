"""What the server tells its operator: Prometheus metrics, the request log line, workspace gauges.

``metrics.py`` defines every metric family (and how they are read under
several uvicorn workers), ``requests.py`` the per-request observer the edge
middleware calls, ``gauges.py`` the off-request recount of per-workspace
counts and stale-frame ratios, ``route.py`` ``GET /v1/metrics``.
"""
