"""Published versions: what a snapshot of $LATEST holds, and when one adds nothing.

A published version is an immutable copy of $LATEST's code and configuration
(Pending until its code is ready, like a new function). PublishVersion adds a
version only when the code or the configuration changed since the newest one;
its Description overrides the copy's own, so the description $LATEST had is
kept beside it to tell "changed" from "described differently".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from lambdad.catalog.lifecycle import Lifecycle, with_lifecycle
from lambdad.catalog.model import FunctionConfig
from lambdad.store import VersionRow

SOURCE_DESCRIPTION = "source_description"


def snapshot_config(latest_config: Mapping[str, Any], description: str | None) -> dict[str, Any]:
    """The config document of a version published from $LATEST's."""
    config = with_lifecycle(latest_config, Lifecycle.creating())
    config[SOURCE_DESCRIPTION] = latest_config.get("description", "")
    if description is not None:
        config["description"] = description
    return config


def same_snapshot(published: VersionRow, latest: VersionRow) -> bool:
    """Whether publishing `latest` would add nothing to `published` (same code and config)."""
    if published.code_sha256 != latest.code_sha256:
        return False
    source = published.config.get(SOURCE_DESCRIPTION, published.config.get("description", ""))
    ours = dataclasses.replace(FunctionConfig.from_json(published.config), description=source)
    return ours == FunctionConfig.from_json(latest.config)
