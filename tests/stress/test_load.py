"""The load benchmark in miniature, in CI: many clients, several workers, PostgreSQL, zero errors.

``benchmarks/bench_load.py`` is the measurement (its figures are in
docs/PERFORMANCE.md); this runs the same code, bounded to a few seconds, so
a change that makes concurrent clients fail (a lost write, a deadlock, a
500 under contention, a queue that never drains) fails CI.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.services import service_unavailable

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_load.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_load", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_concurrent_clients_over_three_workers_see_no_errors(backend: str) -> None:
    bench = _bench()
    if backend == "postgres":
        try:
            import psycopg

            psycopg.connect(bench.ADMIN_DSN, connect_timeout=3).close()
        except Exception as exc:
            service_unavailable(f"PostgreSQL at {bench.ADMIN_DSN} is not reachable ({exc})")
    result = bench.run(
        clients=60,
        workers=3,
        workspaces=30,
        hot=5,
        duration=6.0,
        think_ms=100.0,
        backend=backend,
    )
    assert result["errors"] == 0, bench.table(result)
    for name, op in result["ops"].items():
        assert op["ok"] > 0, (name, bench.table(result))
