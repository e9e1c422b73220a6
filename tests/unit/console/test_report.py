"""The Test tab's report figures (static/js/report.js) from the log tail lambdad writes,
in both log formats: the text REPORT line and JSON's platform.report record."""

from __future__ import annotations

from typing import Any

from lambdad.telemetry.log_format import LogFormatting
from lambdad.telemetry.logs import Report
from support.console_js import READ_STDIN, module_url, run_node

PARSE = f"""
import {{ parseReport }} from "{module_url("report.js")}";
{READ_STDIN}
console.log(JSON.stringify(input.map((tail) => parseReport(tail))));
"""

FIGURES = {
    "Duration": "12.35 ms",
    "Billed Duration": "113 ms",
    "Memory Size": "256 MB",
    "Max Memory Used": "41 MB",
    "Init Duration": "100.50 ms",
}


def _tail(formatting: LogFormatting) -> str:
    """A log tail as the invoker writes it, in `formatting`'s format."""
    report = Report("req-1", 12.345, 256, 41, 100.5)
    lines = ["app says hello", *formatting.end(report, "success", None, [], 1_700_000_000_000)]
    return "\n".join(lines) + "\n"


def test_text_and_json_tails_give_the_same_figures() -> None:
    text, as_json = _tail(LogFormatting()), _tail(LogFormatting(json=True))
    assert '"type":"platform.report"' in as_json and "REPORT" not in as_json
    found: list[Any] = run_node(PARSE, [text, as_json, "no report here\n{not json\n"])
    assert found[0]["figures"] == FIGURES
    assert found[0]["line"].startswith("REPORT RequestId: req-1")
    assert found[1]["figures"] == FIGURES
    assert '"platform.report"' in found[1]["line"]
    assert found[2] is None
