"""Shapes for functions, tags and account settings (botocore's names and fields)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from lambdad.errors import InvalidRequestContent, ValidationError

T = TypeVar("T")


class Shape(msgspec.Struct, rename="pascal", omit_defaults=True, forbid_unknown_fields=False):
    pass


class EnvironmentShape(Shape):
    variables: dict[str, str] | None = None


class EphemeralStorageShape(Shape):
    size: int


class SnapStartShape(Shape):
    apply_on: str | None = None


class LoggingConfigShape(Shape):
    log_format: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    log_group: str | None = None


class TracingConfigShape(Shape):
    mode: str | None = None


class DeadLetterConfigShape(Shape):
    target_arn: str | None = None


class ImageConfigShape(Shape):
    entry_point: list[str] | None = None
    command: list[str] | None = None
    working_directory: str | None = None


class ImageConfigError(Shape):
    error_code: str | None = None
    message: str | None = None


class ImageConfigResponse(Shape):
    image_config: ImageConfigShape | None = None
    error: ImageConfigError | None = None


class FunctionCode(Shape):
    zip_file: str | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    s3_object_version: str | None = None
    image_uri: str | None = None
    source_kms_key_arn: str | None = None


class CreateFunctionRequest(Shape):
    function_name: str
    role: str | None = None
    code: FunctionCode | None = None
    runtime: str | None = None
    handler: str | None = None
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    publish: bool = False
    package_type: str = "Zip"
    environment: EnvironmentShape | None = None
    tags: dict[str, str] | None = None
    layers: list[str] | None = None
    architectures: list[str] | None = None
    ephemeral_storage: EphemeralStorageShape | None = None
    snap_start: SnapStartShape | None = None
    logging_config: LoggingConfigShape | None = None
    tracing_config: TracingConfigShape | None = None
    dead_letter_config: DeadLetterConfigShape | None = None
    k_m_s_key_arn: str | None = msgspec.field(default=None, name="KMSKeyArn")
    image_config: ImageConfigShape | None = None


class UpdateFunctionCodeRequest(Shape):
    zip_file: str | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    s3_object_version: str | None = None
    image_uri: str | None = None
    publish: bool = False
    dry_run: bool = False
    revision_id: str | None = None
    architectures: list[str] | None = None


class UpdateFunctionConfigurationRequest(Shape):
    role: str | None = None
    handler: str | None = None
    description: str | None = None
    timeout: int | None = None
    memory_size: int | None = None
    environment: EnvironmentShape | None = None
    runtime: str | None = None
    revision_id: str | None = None
    layers: list[str] | None = None
    ephemeral_storage: EphemeralStorageShape | None = None
    snap_start: SnapStartShape | None = None
    logging_config: LoggingConfigShape | None = None
    tracing_config: TracingConfigShape | None = None
    dead_letter_config: DeadLetterConfigShape | None = None
    k_m_s_key_arn: str | None = msgspec.field(default=None, name="KMSKeyArn")
    image_config: ImageConfigShape | None = None


class PublishVersionRequest(Shape):
    code_sha256: str | None = None
    description: str | None = None
    revision_id: str | None = None


class TagResourceRequest(Shape):
    tags: dict[str, str]


class Layer(Shape):
    arn: str
    code_size: int = 0


class SnapStartResponse(Shape):
    apply_on: str
    optimization_status: str


class RuntimeVersionConfig(Shape):
    runtime_version_arn: str


class FunctionConfiguration(Shape):
    function_name: str
    function_arn: str
    role: str
    code_size: int
    description: str
    timeout: int
    memory_size: int
    last_modified: str
    code_sha256: str
    version: str
    tracing_config: TracingConfigShape
    revision_id: str
    package_type: str
    architectures: list[str]
    ephemeral_storage: EphemeralStorageShape
    snap_start: SnapStartResponse
    logging_config: LoggingConfigShape
    # Absent for container image functions, as on AWS.
    runtime: str | None = None
    handler: str | None = None
    image_config_response: ImageConfigResponse | None = None
    # Absent from ListFunctions / ListVersionsByFunction entries, as on AWS.
    runtime_version_config: RuntimeVersionConfig | None = None
    state: str | None = None
    last_update_status: str | None = None
    environment: EnvironmentShape | None = None
    layers: list[Layer] | None = None
    dead_letter_config: DeadLetterConfigShape | None = None
    k_m_s_key_arn: str | None = msgspec.field(default=None, name="KMSKeyArn")
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None


class ListVersionsByFunctionResponse(Shape):
    versions: list[FunctionConfiguration]
    next_marker: str | None = None


class FunctionCodeLocation(Shape):
    repository_type: str
    location: str | None = None
    image_uri: str | None = None
    resolved_image_uri: str | None = None


class Concurrency(Shape):
    reserved_concurrent_executions: int


class GetFunctionResponse(Shape):
    configuration: FunctionConfiguration
    code: FunctionCodeLocation
    tags: dict[str, str] | None = None
    concurrency: Concurrency | None = None


class ListFunctionsResponse(Shape):
    functions: list[FunctionConfiguration]
    next_marker: str | None = None


class AccountLimit(Shape):
    total_code_size: int
    code_size_unzipped: int
    code_size_zipped: int
    concurrent_executions: int
    unreserved_concurrent_executions: int


class AccountUsage(Shape):
    total_code_size: int
    function_count: int


class AccountSettings(Shape):
    account_limit: AccountLimit
    account_usage: AccountUsage


_encoder = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def decode_body(body: bytes, shape: type[T]) -> T:
    """Decode a request body into its shape, with AWS's errors for bad input."""
    try:
        return msgspec.json.decode(body or b"{}", type=shape)
    except msgspec.ValidationError as exc:
        raise ValidationError(f"1 validation error detected: {exc}") from exc
    except (msgspec.DecodeError, RecursionError) as exc:
        # RecursionError: nested deeper than the decoder's limit (~1000, as AWS's).
        raise InvalidRequestContent(
            "Could not parse request body into json: Could not parse payload into json"
        ) from exc
