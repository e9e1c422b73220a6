"""Shapes for reserved and provisioned concurrency and recursion configs."""

from __future__ import annotations

from lambdad.api.shapes.functions import Shape


class PutFunctionConcurrencyRequest(Shape):
    reserved_concurrent_executions: int


class ConcurrencyShape(Shape):
    """Concurrency / GetFunctionConcurrencyResponse (empty when none is reserved)."""

    reserved_concurrent_executions: int | None = None


class PutProvisionedConcurrencyConfigRequest(Shape):
    provisioned_concurrent_executions: int


class ProvisionedConcurrencyConfig(Shape):
    """Put/GetProvisionedConcurrencyConfigResponse; with FunctionArn, a list item."""

    requested_provisioned_concurrent_executions: int
    available_provisioned_concurrent_executions: int
    allocated_provisioned_concurrent_executions: int
    status: str
    last_modified: str
    status_reason: str | None = None
    function_arn: str | None = None


class ListProvisionedConcurrencyConfigsResponse(Shape):
    provisioned_concurrency_configs: list[ProvisionedConcurrencyConfig]
    next_marker: str | None = None


class RecursionConfig(Shape):
    """Put/GetFunctionRecursionConfig request and response."""

    recursive_loop: str
