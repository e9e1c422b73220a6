"""Shapes of the event invoke config operations (botocore's names and fields)."""

from __future__ import annotations

from lambdad.api.shapes.functions import Shape


class DestinationShape(Shape):
    destination: str | None = None


class DestinationConfigShape(Shape):
    on_success: DestinationShape | None = None
    on_failure: DestinationShape | None = None


class EventInvokeConfigRequest(Shape):
    """PutFunctionEventInvokeConfig / UpdateFunctionEventInvokeConfig bodies."""

    maximum_retry_attempts: int | None = None
    maximum_event_age_in_seconds: int | None = None
    destination_config: DestinationConfigShape | None = None


class RenderedDestinationConfig(Shape):
    # Always both keys, `{}` where no destination is set, as AWS answers.
    on_success: DestinationShape
    on_failure: DestinationShape


class FunctionEventInvokeConfig(Shape):
    last_modified: float
    function_arn: str
    destination_config: RenderedDestinationConfig
    maximum_retry_attempts: int | None = None
    maximum_event_age_in_seconds: int | None = None


class ListFunctionEventInvokeConfigsResponse(Shape):
    function_event_invoke_configs: list[FunctionEventInvokeConfig]
    next_marker: str | None = None
