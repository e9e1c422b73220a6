"""Domain objects for tests that need a function version without a catalog."""

from __future__ import annotations

import dataclasses
from typing import Any

from lambdad.catalog import FunctionConfig, FunctionState, LastUpdateStatus, Version


def make_version(name: str = "fn", revision: str = "r1", **changes: Any) -> Version:
    """An Active, Successful $LATEST of a python3.12 function."""
    version = Version(
        function_name=name,
        version="$LATEST",
        function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
        config=FunctionConfig(runtime="python3.12", handler="app.handler", role="r"),
        code_sha256="x",
        code_key="k",
        code_size=1,
        revision_id=revision,
        last_modified=0.0,
        state=FunctionState.ACTIVE,
        last_update_status=LastUpdateStatus.SUCCESSFUL,
    )
    return dataclasses.replace(version, **changes)
