"""Domain dataclasses to wire shapes (and back for requests)."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import msgspec

from lambdad.api import shapes
from lambdad.catalog import (
    SNAPSTART_OFF,
    FunctionConfig,
    ImageConfig,
    LoggingConfig,
    Version,
)
from lambdad.errors import InvalidParameterValue

# Runtime version ARNs look like AWS's; the hash names our build of the runtime.
_RUNTIME_VERSION_ARN = "arn:aws:lambda:{region}::runtime:lambdad-{runtime}"


def format_timestamp(epoch: float) -> str:
    """AWS's LastModified format: 2019-09-24T18:20:35.054+0000."""
    millis = int(round(epoch * 1000)) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{millis:03d}+0000"


def function_configuration(
    version: Version, region: str, arn: str | None = None
) -> shapes.FunctionConfiguration:
    """`arn` overrides the FunctionArn (a request's qualifier as given, e.g. an alias ARN);
    by default $LATEST shows the unqualified ARN and a published version its own."""
    config = version.config
    image = config.package_type == "Image"
    logging = config.logging or LoggingConfig(log_group=version.log_group)
    return shapes.FunctionConfiguration(
        function_name=version.function_name,
        function_arn=arn
        or (version.function_arn if version.version == "$LATEST" else version.qualified_arn),
        runtime=None if image else config.runtime,
        role=config.role,
        handler=None if image else config.handler,
        code_size=version.code_size,
        description=config.description,
        timeout=config.timeout,
        memory_size=config.memory_size,
        last_modified=format_timestamp(version.last_modified),
        code_sha256=version.code_sha256,
        version=version.version,
        tracing_config=shapes.functions.TracingConfigShape(mode=config.tracing_mode),
        revision_id=version.revision_id,
        state=version.state.value,
        last_update_status=None
        if version.last_update_status is None
        else version.last_update_status.value,
        package_type=config.package_type,
        architectures=list(config.architectures),
        ephemeral_storage=shapes.EphemeralStorageShape(size=config.ephemeral_storage),
        snap_start=shapes.functions.SnapStartResponse(
            apply_on=config.snap_start, optimization_status=version.optimization_status
        ),
        runtime_version_config=None
        if image
        else shapes.functions.RuntimeVersionConfig(
            runtime_version_arn=_RUNTIME_VERSION_ARN.format(region=region, runtime=config.runtime)
        ),
        image_config_response=shapes.functions.ImageConfigResponse(
            image_config=image_config_shape(config.image_config)
        )
        if config.image_config is not None
        else None,
        logging_config=shapes.LoggingConfigShape(
            log_format=logging.log_format,
            log_group=logging.log_group,
            application_log_level=logging.application_log_level,
            system_log_level=logging.system_log_level,
        ),
        # Set (even to nothing) it is shown; never set it is absent, as on AWS.
        environment=shapes.EnvironmentShape(variables=dict(config.environment))
        if config.environment or config.environment_set
        else None,
        layers=[
            shapes.functions.Layer(arn=ref.arn, code_size=ref.code_size)
            for ref in config.layer_refs
        ]
        or None,
        dead_letter_config=shapes.functions.DeadLetterConfigShape(
            target_arn=config.dead_letter_target
        )
        if config.dead_letter_target
        else None,
        k_m_s_key_arn=config.kms_key_arn,
        state_reason=version.state_reason,
        state_reason_code=version.state_reason_code,
        last_update_status_reason=version.last_update_status_reason,
        last_update_status_reason_code=version.last_update_status_reason_code,
    )


def image_config_shape(config: ImageConfig) -> shapes.functions.ImageConfigShape:
    return shapes.functions.ImageConfigShape(
        entry_point=None if config.entry_point is None else list(config.entry_point),
        command=None if config.command is None else list(config.command),
        working_directory=config.working_directory,
    )


def image_config(shape: shapes.functions.ImageConfigShape | None) -> ImageConfig | None:
    """A request's ImageConfig (None: not given)."""
    if shape is None:
        return None
    return ImageConfig(
        entry_point=None if shape.entry_point is None else tuple(shape.entry_point),
        command=None if shape.command is None else tuple(shape.command),
        working_directory=shape.working_directory,
    )


def list_entry(configuration: shapes.FunctionConfiguration) -> shapes.FunctionConfiguration:
    """A configuration as ListFunctions and ListVersionsByFunction show it: AWS leaves out
    the state fields and RuntimeVersionConfig there (GetFunction has them)."""
    return msgspec.structs.replace(
        configuration,
        state=None,
        state_reason=None,
        state_reason_code=None,
        last_update_status=None,
        last_update_status_reason=None,
        last_update_status_reason_code=None,
        runtime_version_config=None,
    )


def decode_zip(zip_file: str | None) -> bytes | None:
    if zip_file is None:
        return None
    try:
        return base64.b64decode(zip_file, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from exc


def config_from_create(request: shapes.CreateFunctionRequest) -> FunctionConfig:
    logging = request.logging_config
    return FunctionConfig(
        runtime=request.runtime or "",
        handler=request.handler or "",
        role=request.role or "",
        memory_size=request.memory_size,
        timeout=request.timeout,
        description=request.description,
        environment=(request.environment.variables or {}) if request.environment else {},
        environment_set=request.environment is not None,
        ephemeral_storage=request.ephemeral_storage.size if request.ephemeral_storage else 512,
        snap_start=_apply_on(request.snap_start),
        layers=tuple(request.layers or ()),
        architectures=tuple(request.architectures or ("x86_64",)),
        package_type=request.package_type,
        tracing_mode=(request.tracing_config.mode or "PassThrough")
        if request.tracing_config
        else "PassThrough",
        dead_letter_target=request.dead_letter_config.target_arn
        if request.dead_letter_config
        else None,
        kms_key_arn=request.k_m_s_key_arn,
        logging=_logging(logging, request.function_name) if logging else None,
        image_config=image_config(request.image_config),
    )


def _apply_on(shape: shapes.functions.SnapStartShape | None) -> str:
    """SnapStart's ApplyOn as given (an empty SnapStart turns it off, as None does)."""
    return SNAPSTART_OFF if shape is None or shape.apply_on is None else shape.apply_on


def _logging(shape: shapes.LoggingConfigShape, function_name: str) -> LoggingConfig:
    name = function_name.rsplit(":", 1)[-1] if "function:" in function_name else function_name
    log_format = shape.log_format or "Text"
    # JSON logs have levels, INFO unless given (as AWS shows them); Text's are refused.
    default = "INFO" if log_format == "JSON" else None
    return LoggingConfig(
        log_group=shape.log_group or f"/aws/lambda/{name}",
        log_format=log_format,
        application_log_level=shape.application_log_level or default,
        system_log_level=shape.system_log_level or default,
    )


def config_changes(
    request: shapes.UpdateFunctionConfigurationRequest, function_name: str
) -> dict[str, Any]:
    """The FunctionConfig fields an UpdateFunctionConfiguration request sets."""
    changes: dict[str, Any] = {}
    simple = {
        "role": request.role,
        "handler": request.handler,
        "description": request.description,
        "timeout": request.timeout,
        "memory_size": request.memory_size,
        "runtime": request.runtime,
        "kms_key_arn": request.k_m_s_key_arn,
    }
    changes.update({k: v for k, v in simple.items() if v is not None})
    if request.environment is not None:
        changes["environment"] = request.environment.variables or {}
        changes["environment_set"] = True
    if request.layers is not None:
        changes["layers"] = tuple(request.layers)
    if request.ephemeral_storage is not None:
        changes["ephemeral_storage"] = request.ephemeral_storage.size
    if request.snap_start is not None:
        changes["snap_start"] = _apply_on(request.snap_start)
    if request.tracing_config is not None and request.tracing_config.mode:
        changes["tracing_mode"] = request.tracing_config.mode
    if request.dead_letter_config is not None:
        changes["dead_letter_target"] = request.dead_letter_config.target_arn or None
    if request.logging_config is not None:
        changes["logging"] = _logging(request.logging_config, function_name)
    if request.image_config is not None:
        changes["image_config"] = image_config(request.image_config)
    return changes
