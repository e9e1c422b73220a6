"""X-Ray trace headers: parsing, AWS's X-Ray <-> W3C id mapping, completed headers."""

from __future__ import annotations

import re

from lambdad.telemetry.xray_ids import complete_header, otel_trace_id, parse, xray_root

ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def test_the_root_maps_to_the_w3c_trace_id_and_back() -> None:
    trace_id = otel_trace_id(ROOT)
    assert f"{trace_id:032x}" == "5759e988bd862e3fe1be46a994272793"
    assert xray_root(trace_id) == ROOT


def test_parse_keeps_other_fields_and_drops_malformed_ids() -> None:
    header = parse(f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a1b2c3d4:2")
    assert (header.root, header.parent, header.sampled) == (ROOT, "53995c3f42cd8ad8", True)
    assert header.others == ("Lineage=a1b2c3d4:2",)
    bad = parse("Root=1-xyz;Parent=short;Sampled=?")
    assert (bad.root, bad.parent, bad.sampled) == (None, None, None)


def test_an_untraced_function_gets_every_field() -> None:
    assert complete_header(f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0") == (
        f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0"
    )
    completed = complete_header(f"Root={ROOT};Lineage=a1b2c3d4:1")
    assert re.fullmatch(
        rf"Root={ROOT};Parent=[0-9a-f]{{16}};Sampled=0;Lineage=a1b2c3d4:1", completed
    )
    fresh = complete_header("")
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", fresh)
