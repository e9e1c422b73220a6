"""LoggingConfig applied to a stream: Text lines as before, AWS's JSON platform records,
and the levels that decide which events stay."""

from __future__ import annotations

import json

import pytest

from lambdad.catalog import LoggingConfig
from lambdad.telemetry import Report
from lambdad.telemetry.log_format import TEXT, LogFormatting

REPORT = Report("req-1", 12.3456, 128, 40, init_duration_ms=100.5)


def test_text_is_lambdas_classic_lines() -> None:
    assert LogFormatting.of(None) == TEXT
    assert LogFormatting.of(LoggingConfig("/g", "Text")) == TEXT
    assert TEXT.start("req-1", "$LATEST", 0) == ["START RequestId: req-1 Version: $LATEST"]
    lines = TEXT.end(REPORT, "success", None, [], 0)
    assert lines[0] == "END RequestId: req-1"
    assert lines[1].startswith("REPORT RequestId: req-1\tDuration: 12.35 ms")
    assert not TEXT.filters


def test_json_platform_records_have_aws_shapes() -> None:
    formatting = LogFormatting.of(LoggingConfig("/g", "JSON"))
    assert (formatting.application_level, formatting.system_level) == ("INFO", "INFO")
    start = json.loads(formatting.start("req-1", "$LATEST", 1_700_000_000_123)[0])
    assert start == {
        "time": "2023-11-14T22:13:20.123Z",
        "type": "platform.start",
        "record": {"requestId": "req-1", "version": "$LATEST"},
    }
    done, report = (
        json.loads(line)
        for line in formatting.end(REPORT, "timeout", "Sandbox.Timedout", ["Task timed out"], 0)
    )
    assert done["type"] == "platform.runtimeDone"
    assert report["type"] == "platform.report"
    assert report["record"] == {
        "requestId": "req-1",
        "status": "timeout",
        "errorType": "Sandbox.Timedout",
        "metrics": {
            "durationMs": 12.346,
            "billedDurationMs": 113,  # a cold start's Init is billed too
            "memorySizeMB": 128,
            "maxMemoryUsedMB": 40,
            "initDurationMs": 100.5,
        },
    }


@pytest.mark.parametrize(
    ("app", "system", "kept"),
    [
        ("INFO", "INFO", ["start", "report", "plain", "info", "warning", "error"]),
        (
            "DEBUG",
            "DEBUG",
            ["start", "done", "report", "plain", "debug", "info", "warning", "error"],
        ),
        ("ERROR", "WARN", ["error"]),
        ("WARN", "INFO", ["start", "report", "warning", "error"]),
    ],
)
def test_levels_keep_what_aws_keeps(app: str, system: str, kept: list[str]) -> None:
    formatting = LogFormatting(True, app, system)
    events = {
        "start": formatting.start("r", "1", 0)[0],
        "done": formatting.end(REPORT, "success", None, [], 0)[0],
        "report": formatting.end(REPORT, "success", None, [], 0)[1],
        "plain": "print() output, INFO for the filter",
        "debug": json.dumps({"level": "DEBUG", "message": "d"}),
        "info": json.dumps({"level": "info", "msg": "lower case is a level too"}),
        "warning": json.dumps({"level": "WARNING", "message": "Python's name"}),
        "error": json.dumps({"level": "ERROR", "message": "e"}),
    }
    assert [name for name, line in events.items() if formatting.keep(line.encode())] == kept
