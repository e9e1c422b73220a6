"""Wire shapes of the Lambda REST API (msgspec Structs named as in botocore's model)."""

from lambdad.api.shapes.functions import (
    AccountLimit,
    AccountSettings,
    AccountUsage,
    CreateFunctionRequest,
    EnvironmentShape,
    EphemeralStorageShape,
    FunctionCodeLocation,
    FunctionConfiguration,
    GetFunctionResponse,
    ListFunctionsResponse,
    LoggingConfigShape,
    TagResourceRequest,
    UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
    decode_body,
    encode,
)

__all__ = [
    "AccountLimit",
    "AccountSettings",
    "AccountUsage",
    "CreateFunctionRequest",
    "EnvironmentShape",
    "EphemeralStorageShape",
    "FunctionCodeLocation",
    "FunctionConfiguration",
    "GetFunctionResponse",
    "ListFunctionsResponse",
    "LoggingConfigShape",
    "TagResourceRequest",
    "UpdateFunctionCodeRequest",
    "UpdateFunctionConfigurationRequest",
    "decode_body",
    "encode",
]
