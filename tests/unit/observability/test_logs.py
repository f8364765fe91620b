from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any

import pytest
from pydantic import SecretStr

from treeframe.observability import events, logs
from treeframe.observability.context import REQUEST_ID
from treeframe.observability.logs import configure_logging, flush_logs, get_logger

TOKEN = "tft_0123456789abcdef_c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw"


@pytest.fixture(autouse=True)
def _restore() -> Any:
    yield
    configure_logging("warning", "json", io.StringIO())  # engine listener off
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "treeframe"]


@pytest.fixture
def stream() -> Any:
    out = io.StringIO()
    configure_logging("info", "json", out)
    return out


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    flush_logs()
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_level_logger_time_and_request_id(stream: io.StringIO):
    token = REQUEST_ID.set("req-42")
    try:
        get_logger("treeframe.api.request").info("request", status=200, route="/v1/x")
    finally:
        REQUEST_ID.reset(token)
    get_logger("treeframe.api.request").info("request", status=404)
    first, second = lines(stream)
    assert first["event"] == "request"
    assert first["request_id"] == "req-42"
    assert first["level"] == "info"
    assert first["logger"] == "treeframe.api.request"
    assert first["timestamp"].endswith("Z")
    assert "request_id" not in second


def test_secrets_and_contents_are_redacted_by_name_and_tokens_by_shape(stream: io.StringIO):
    get_logger("t").info(
        "x",
        token=TOKEN,
        authorization=f"Bearer {TOKEN}",
        content="frame text",
        api_key="sk-live",
        password=SecretStr("pw"),
        note=f"called with {TOKEN} inside",
        token_id="0123456789abcdef",
        content_hash="ab" * 32,
    )
    logging.getLogger("uvicorn.error").warning("header was %s", TOKEN)
    flush_logs()
    text = stream.getvalue()
    assert "c2VjcmV0" not in text
    assert "frame text" not in text
    assert "sk-live" not in text
    assert '"pw"' not in text
    # Standard-library records are written at once, structlog's by the writer thread.
    by_event = {record["event"]: record for record in lines(stream)}
    line, foreign = by_event["x"], by_event["header was tft_**********"]
    assert line["token"] == line["content"] == line["api_key"] == "**********"
    assert line["note"] == "called with tft_********** inside"
    assert line["token_id"] == "0123456789abcdef"  # public IDs stay readable
    assert line["content_hash"] == "ab" * 32

    assert foreign["event"] == "header was tft_**********"


def test_url_passwords_are_masked_in_any_field_or_message(stream: io.StringIO):
    get_logger("t").info(
        "store",
        url="postgresql://tf:hunter2@db:5432/tf",
        error="cannot reach redis://:hunter2@cache:6379/0 (refused)",
        nested={"urls": ["s3://bucket/p", "postgresql://u:hunter2@h/d"]},
    )
    logging.getLogger("uvicorn.error").warning("connecting to %s", "postgresql://u:hunter2@h/d")
    flush_logs()
    assert "hunter2" not in stream.getvalue()
    line = {record["event"]: record for record in lines(stream)}["store"]
    assert line["url"] == "postgresql://tf:**********@db:5432/tf"
    assert line["nested"]["urls"][0] == "s3://bucket/p"


def test_standard_library_loggers_share_the_pipeline_and_the_level(stream: io.StringIO):
    logging.getLogger("treeframe.api").info("started %d workers", 3)
    logging.getLogger("treeframe.api").debug("hidden")
    get_logger("treeframe.engine").debug("hidden too")
    (line,) = lines(stream)
    assert line["event"] == "started 3 workers"
    assert line["logger"] == "treeframe.api"


def test_engine_events_become_info_lines_and_stop_above_info(stream: io.StringIO):
    events.emit("frame.put", workspace="w", frame="f" * 64, audit_seq=3)
    (line,) = lines(stream)
    assert line["event"] == "frame.put"
    assert line["logger"] == "treeframe.engine"
    assert line["audit_seq"] == 3
    quiet = io.StringIO()
    configure_logging("warning", "json", quiet)
    events.emit("frame.put", workspace="w")
    flush_logs()
    assert quiet.getvalue() == ""


def test_console_format_is_readable_and_level_is_checked():
    out = io.StringIO()
    configure_logging("info", "console", out)
    get_logger("treeframe.cli").info("scan", files=3)
    flush_logs()
    assert "scan" in out.getvalue()
    assert "files" in out.getvalue()
    assert not out.getvalue().lstrip().startswith("{")
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud", "json", out)


def test_lines_keep_their_order_and_time_and_exceptions_survive_the_writer_thread(
    stream: io.StringIO,
):
    log = get_logger("treeframe.api")
    for i in range(200):
        log.info("tick", i=i)
    try:
        raise KeyError("lost key")
    except KeyError:
        log.exception("failed")
    found = lines(stream)
    assert [r["i"] for r in found[:-1]] == list(range(200))
    stamps = [r["timestamp"] for r in found]
    assert stamps == sorted(stamps)
    assert found[-1]["exception"][0]["exc_type"] == "KeyError"


class _Stuck(io.StringIO):
    """A stream that blocks every write until released (a pipe nobody reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.release.wait(10)
        return super().write(text)


def test_a_stuck_stream_drops_lines_past_the_bound_and_says_how_many(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(logs, "MAX_QUEUED_LINES", 5)
    stuck = _Stuck()
    configure_logging("info", "json", stuck)
    log = get_logger("treeframe.api")
    for i in range(50):
        log.info("tick", i=i)  # never blocks the caller
    stuck.release.set()
    log.info("after")
    flush_logs()
    found = [json.loads(line) for line in stuck.getvalue().splitlines()]
    assert len(found) < 50
    dropped = sum(r.get("log_lines_dropped", 0) for r in found)
    assert len(found) + dropped == 51


def test_tokens_inside_exceptions_and_nested_fields_are_masked(stream: io.StringIO):
    log = get_logger("treeframe.api")
    try:
        raise ValueError(f"bad header {TOKEN}")
    except ValueError:
        log.exception("failed")
        logging.getLogger("treeframe.api").exception("failed too")
    log.info("nested", headers={"authorization": f"Bearer {TOKEN}"}, items=[TOKEN], ok={"a": 1})
    text = (flush_logs(), stream.getvalue())[1]
    assert "c2VjcmV0" not in text
    nested = next(r for r in lines(stream) if r["event"] == "nested")
    assert nested["headers"] == {"authorization": "**********"}
    assert nested["items"] == ["tft_**********"]
    assert nested["ok"] == {"a": 1}


def test_console_lines_mask_tokens_in_tracebacks():
    out = io.StringIO()
    configure_logging("info", "console", out)
    try:
        raise KeyError(TOKEN)
    except KeyError:
        get_logger("treeframe.api").exception("boom")
    flush_logs()
    assert "boom" in out.getvalue()
    assert "c2VjcmV0" not in out.getvalue()
