"""A layer version's policy: statements as AWS writes them, and its limits."""

from __future__ import annotations

from typing import Any

import pytest

from lambdad.catalog.layer_policies import (
    MAX_POLICY_BYTES,
    LayerPermission,
    add_statement,
    policy_of,
    remove_statement,
)
from lambdad.errors import (
    PolicyLengthExceeded,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)

RESOURCE = "arn:aws:lambda:us-east-1:000000000000:layer:shared:1"


def grant(sid: str, principal: str = "*") -> dict[str, Any]:
    return LayerPermission(sid, "lambda:GetLayerVersion", principal).statement(RESOURCE)


def test_principals_are_written_as_aws_writes_them() -> None:
    assert grant("a")["Principal"] == "*"
    assert grant("b", "210987654321")["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    root = "arn:aws:iam::210987654321:root"
    assert grant("c", root)["Principal"] == {"AWS": root}


def test_policy_past_20_kb_is_refused_and_nothing_changes() -> None:
    config: dict[str, Any] = {"description": "kept"}
    count = 0
    with pytest.raises(PolicyLengthExceeded) as exc:
        while True:
            config = add_statement(config, grant(f"statement-{count:04d}"), None)
            count += 1
    assert f"is bigger than the limit ({MAX_POLICY_BYTES})" in exc.value.message
    policy = policy_of(config)
    assert policy is not None and len(policy.statements) == count
    assert len(policy.document().encode()) <= MAX_POLICY_BYTES
    assert config["description"] == "kept"


def test_revisions_guard_changes() -> None:
    config = add_statement({}, grant("one"), None)
    first = policy_of(config)
    assert first is not None
    with pytest.raises(ResourceConflict):
        add_statement(config, grant("one"), None)
    with pytest.raises(PreconditionFailed):
        add_statement(config, grant("two"), "stale")
    config = add_statement(config, grant("two"), first.revision_id)
    with pytest.raises(PreconditionFailed):
        remove_statement(config, "two", first.revision_id)
    config = remove_statement(config, "two", None)
    config = remove_statement(config, "one", None)
    assert policy_of(config) is None
    with pytest.raises(ResourceNotFound):
        remove_statement(config, "one", None)
