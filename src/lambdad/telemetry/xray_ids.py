"""X-Ray trace headers and ids, and their mapping to OpenTelemetry's (W3C) ids.

A trace header: `Root=1-<8 hex epoch>-<24 hex>;Parent=<16 hex>;Sampled=0|1`, plus
other fields kept as they come (`Lineage`, `Self`). An X-Ray trace id is a W3C
trace id written differently: the 32 hex digits are the 8 after `1-` and the 24
after the second dash (AWS's mapping, as the OTel X-Ray propagator does it); a
Parent is a 64-bit span id.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

_ROOT = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")
_PARENT = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class TraceHeader:
    root: str | None
    parent: str | None
    sampled: bool | None
    """None: no decision made upstream (absent, or `Sampled=?`)."""
    others: tuple[str, ...] = ()
    """The other fields, as they came (`Lineage=...`)."""

    def render(self) -> str:
        fields = []
        if self.root:
            fields.append(f"Root={self.root}")
        if self.parent:
            fields.append(f"Parent={self.parent}")
        if self.sampled is not None:
            fields.append(f"Sampled={int(self.sampled)}")
        return ";".join([*fields, *self.others])


def parse(header: str) -> TraceHeader:
    """The header's fields; a malformed Root or Parent counts as absent."""
    root = parent = None
    sampled: bool | None = None
    others: list[str] = []
    for field in header.split(";"):
        key, _, value = field.strip().partition("=")
        if key == "Root":
            root = value.lower() if _ROOT.fullmatch(value.lower()) else None
        elif key == "Parent":
            parent = value.lower() if _PARENT.fullmatch(value.lower()) else None
        elif key == "Sampled":
            sampled = {"1": True, "0": False}.get(value)
        elif key:
            others.append(field.strip())
    return TraceHeader(root, parent, sampled, tuple(others))


def new_root(now: float | None = None) -> str:
    epoch = int(time.time() if now is None else now)
    return f"1-{epoch:08x}-{os.urandom(12).hex()}"


def otel_trace_id(root: str) -> int:
    """The W3C/OpenTelemetry trace id of an X-Ray root."""
    found = _ROOT.fullmatch(root)
    if found is None:
        raise ValueError(f"not an X-Ray trace id: {root!r}")
    return int(found.group(1) + found.group(2), 16)


def xray_root(trace_id: int) -> str:
    """The X-Ray root of a W3C/OpenTelemetry trace id."""
    digits = f"{trace_id:032x}"
    return f"1-{digits[:8]}-{digits[8:]}"


def span_hex(span_id: int) -> str:
    return f"{span_id:016x}"


def complete_header(header: str) -> str:
    """The header as Lambda hands it to a function it does not trace: with a Root, a
    Parent and a sampling decision (Sampled=0 unless the caller sampled it)."""
    if "Root=" in header and "Parent=" in header and "Sampled=" in header:
        return header
    parsed = parse(header)
    return TraceHeader(
        parsed.root or new_root(),
        parsed.parent or os.urandom(8).hex(),
        bool(parsed.sampled),
        parsed.others,
    ).render()
