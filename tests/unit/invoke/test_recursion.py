"""Lineage in the trace header: counts per function, bounded, hostile input ignored."""

from __future__ import annotations

from lambdad.invoke.recursion import MAX_DEPTH, function_key, lineage, next_hop

ARN = "arn:aws:lambda:us-east-1:000000000000:function:loop"
OTHER = "arn:aws:lambda:us-east-1:000000000000:function:other"
ROOT = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


def test_each_hop_bumps_the_functions_own_count_and_keeps_the_root() -> None:
    header, depth = next_hop(ROOT, ARN)
    assert depth == 1
    assert header.startswith(ROOT + ";Lineage=")
    for expected in range(2, MAX_DEPTH + 2):
        header, depth = next_hop(header, ARN)
        assert depth == expected
    assert lineage(header) == {function_key(ARN): MAX_DEPTH + 1}


def test_other_functions_keep_their_own_counts() -> None:
    header, _ = next_hop(ROOT, ARN)
    header, depth = next_hop(header, OTHER)
    assert depth == 1
    header, depth = next_hop(header, ARN)
    assert depth == 2
    assert lineage(header) == {function_key(ARN): 2, function_key(OTHER): 1}


def test_aws_lineage_forms_are_read() -> None:
    key = function_key(ARN)
    assert lineage(f"{ROOT};Lineage={key}:5") == {key: 5}
    assert lineage(f"{ROOT};Lineage=1:{key}:7|c512fbe3:2") == {key: 7, "c512fbe3": 2}


def test_malformed_or_huge_headers_start_a_fresh_chain() -> None:
    assert lineage(f"{ROOT};Lineage=zz:1|12345678:-1|{'9' * 50}") == {}
    header, depth = next_hop("x" * 5000, ARN)
    assert depth == 1 and header.startswith("Root=1-")
    header, depth = next_hop("Root=1-\n;Lineage=" + function_key(ARN) + ":15", ARN)
    assert depth == 1
