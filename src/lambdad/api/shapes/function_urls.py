"""Shapes of the function URL config operations (botocore's names and fields)."""

from __future__ import annotations

from lambdad.api.shapes.functions import Shape


class CorsShape(Shape):
    allow_credentials: bool | None = None
    allow_headers: list[str] | None = None
    allow_methods: list[str] | None = None
    allow_origins: list[str] | None = None
    expose_headers: list[str] | None = None
    max_age: int | None = None


class FunctionUrlConfigRequest(Shape):
    """CreateFunctionUrlConfig / UpdateFunctionUrlConfig bodies."""

    auth_type: str | None = None
    cors: CorsShape | None = None
    invoke_mode: str | None = None


class FunctionUrlConfigShape(Shape):
    """FunctionUrlConfig and the Create/Get/Update responses (Create has no LastModifiedTime)."""

    function_url: str
    function_arn: str
    auth_type: str
    creation_time: str
    invoke_mode: str
    cors: CorsShape | None = None
    last_modified_time: str | None = None


class ListFunctionUrlConfigsResponse(Shape):
    function_url_configs: list[FunctionUrlConfigShape]
    next_marker: str | None = None
