"""Shapes of the alias operations (botocore's AliasConfiguration and friends)."""

from __future__ import annotations

from lambdad.api.shapes.functions import Shape


class AliasRoutingConfiguration(Shape):
    additional_version_weights: dict[str, float] | None = None


class CreateAliasRequest(Shape):
    name: str | None = None
    function_version: str | None = None
    description: str | None = None
    routing_config: AliasRoutingConfiguration | None = None


class UpdateAliasRequest(Shape):
    function_version: str | None = None
    description: str | None = None
    routing_config: AliasRoutingConfiguration | None = None
    revision_id: str | None = None


class AliasConfiguration(Shape):
    alias_arn: str
    name: str
    function_version: str
    description: str
    revision_id: str
    routing_config: AliasRoutingConfiguration | None = None


class ListAliasesResponse(Shape):
    aliases: list[AliasConfiguration]
    next_marker: str | None = None
