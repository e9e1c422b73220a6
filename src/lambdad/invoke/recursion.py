"""Recursive loop detection through the trace header's Lineage field.

Every invocation carries an X-Amzn-Trace-Id; lambdad adds (or bumps) a Lineage
entry for the function it runs: `Root=...;Parent=...;Sampled=0;Lineage=<fn>:<n>`,
entries for several functions joined by `|`, `<fn>` eight hex digits of a hash
of the function's ARN and `<n>` how many times this chain of events has run it.
The function sees the header as `_X_AMZN_TRACE_ID`, and the AWS SDKs (botocore's
recursion-detection handler) send it back with every API call the function
makes, so an invoke that loops back to the same function arrives with its count.
Past MAX_DEPTH, unless the function's recursion config says Allow, the
invocation is stopped (RecursiveInvocationException), as Lambda does.
"""

from __future__ import annotations

import functools
import hashlib
import re

from lambdad.invoke.requests import new_trace_id

MAX_DEPTH = 16
"""Lambda stops a loop after 16 invocations of the same function by one event chain."""
STOPPED = (
    "Lambda has detected your function being invoked in a recursive loop with other AWS "
    "resources and stopped your function's invocation."
)
"""RecursiveInvocationException's message: the exception's description in AWS's model."""
MAX_HEADER = 2048
MAX_ENTRIES = 32
_ENTRY = re.compile(r"(?:\d+:)?([0-9a-f]{8}):(\d{1,6})")
_SAFE = re.compile(r"[\x21-\x7e]*")


@functools.lru_cache(maxsize=1024)
def function_key(function_arn: str) -> str:
    return hashlib.sha256(function_arn.encode()).hexdigest()[:8]


def lineage(trace_header: str) -> dict[str, int]:
    """The Lineage counts in a trace header (malformed entries are ignored)."""
    counts: dict[str, int] = {}
    for field in trace_header.split(";"):
        key, _, value = field.partition("=")
        if key.strip() != "Lineage":
            continue
        for entry in value.split("|")[:MAX_ENTRIES]:
            found = _ENTRY.fullmatch(entry.strip())
            if found:
                counts[found.group(1)] = max(counts.get(found.group(1), 0), int(found.group(2)))
    return counts


def next_hop(trace_header: str, function_arn: str) -> tuple[str, int]:
    """The header this invocation runs with (its function's count bumped) and that count."""
    if len(trace_header) > MAX_HEADER or not _SAFE.fullmatch(trace_header):
        trace_header = new_trace_id()
    counts = lineage(trace_header)
    key = function_key(function_arn)
    depth = counts.get(key, 0) + 1
    counts[key] = depth
    fields = [
        f
        for f in trace_header.split(";")
        if f and f.partition("=")[0].strip() not in ("Lineage", "")
    ]
    kept = list(counts.items())[-MAX_ENTRIES:]
    fields.append("Lineage=" + "|".join(f"{k}:{n}" for k, n in kept))
    return ";".join(fields), depth
