"""Logs (START/END/REPORT, log groups and streams), metrics and cost."""

from lambdad.telemetry.logs import FunctionLogs, Report, new_stream_name, output_lines, tail

__all__ = ["FunctionLogs", "Report", "new_stream_name", "output_lines", "tail"]
